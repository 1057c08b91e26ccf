/**
 * Writes config/lvsd.schema.json, the JSON Schema editors use to complete and check lvsd.yaml.
 * Generated from the zod schema (input side: what is written in the file, durations as text),
 * so the two cannot drift; a unit test compares the committed file with `renderConfigJsonSchema()`.
 *
 *   node --import tsx src/config/emit-schema.ts [OUT]
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { configSchema } from './schema.js';

export const SCHEMA_ID = 'https://lvsd.invalid/lvsd.schema.json';

/** The JSON Schema of the config file, as an object. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' }),
    $id: SCHEMA_ID,
    title: 'lvsd configuration',
  };
}

/** The file's exact text: two-space JSON with a final newline. */
export function renderConfigJsonSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/** config/lvsd.schema.json of the package this module belongs to (also when run from dist/). */
export function defaultSchemaPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'config', 'lvsd.schema.json');
}

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? defaultSchemaPath());
  await writeFile(out, renderConfigJsonSchema());
  process.stdout.write(`wrote ${out}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
