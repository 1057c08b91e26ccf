import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, tryParseDuration } from '../../src/config/duration.js';
import { configJsonSchema, renderConfigJsonSchema } from '../../src/config/emit-schema.js';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { ConfigError, formatProblem } from '../../src/core/errors.js';

const FILE = 'test.yaml';

/** The formatted problems of a config that must fail. */
function problemsOf(text: string): string[] {
  try {
    parseConfig(text, FILE);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map(formatProblem);
    throw e;
  }
  throw new Error('config unexpectedly loaded');
}

// Each YAML text starts on line 1 right after the backtick, so line numbers read off directly.
const bad: { name: string; yaml: string; want: string[] }[] = [
  {
    name: 'YAML syntax error (code frame stripped)',
    yaml: `services:
  - name: "web
    address: 192.0.2.10:80
`,
    want: ['test.yaml:4:1: YAML: Missing closing "quote'],
  },
];

describe('parseConfig errors', () => {
  it.each(bad)('$name', ({ yaml, want }) => {
    expect(problemsOf(yaml)).toEqual(want);
  });
});
