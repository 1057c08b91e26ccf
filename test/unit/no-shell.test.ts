/**
 * Every process lvsd starts gets an argv: no shell ever parses a config value, a realserver
 * address or an alert. This reads the sources, so a shell call added anywhere fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** the code without comments (prose may say "exec (…)"), and RegExp.prototype.exec renamed */
const code = (text: string): string => text
  .replace(/\/\*[\s\S]*?\*\//g, '')
  .replace(/(^|\s)\/\/.*$/gm, '$1')
  .replace(/\.\s*exec\s*\(/g, '.regexpExec(');

const FORBIDDEN: [RegExp, string][] = [
  [/shell\s*:\s*(true|['"`])/, 'spawn with a shell'],
  [/\b(exec|execSync)\s*\(/, 'child_process exec (a shell command line)'],
  [/import\s*{[^}]*\bexec(Sync)?\b[^}]*}\s*from\s*['"]node:child_process['"]/, 'child_process exec imported'],
  [/['"](\/bin\/)?(ba|da)?sh['"]\s*,\s*\[?\s*['"]-c['"]/, 'sh -c'],
];

describe('argv-only process execution', () => {
  const files = [...sources(path.join(ROOT, 'src')), ...sources(path.join(ROOT, 'checks'))];

  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it('no source file starts a shell', () => {
    const found: string[] = [];
    for (const f of files) {
      const text = code(readFileSync(f, 'utf8'));
      for (const [re, what] of FORBIDDEN) if (re.test(text)) found.push(`${path.relative(ROOT, f)}: ${what}`);
    }
    expect(found).toEqual([]);
  });

  it('the rules catch what they are for', () => {
    const caught = (text: string): boolean => FORBIDDEN.some(([re]) => re.test(code(text)));
    expect(caught('// spawn()\'s wait for the exec (~15 ms)\n/* exec (x) */ const y = 1;')).toBe(false);
    expect(caught("spawn(cmd, args, { shell: true })")).toBe(true);
    expect(caught("import { exec } from 'node:child_process'")).toBe(true);
    expect(caught("execSync(`ipvsadm ${x}`)")).toBe(true);
    expect(caught("spawn('sh', ['-c', line])")).toBe(true);
    expect(caught("const m = ROUTE.exec(path)")).toBe(false);
    expect(caught("spawn(argv[0], argv.slice(1))")).toBe(false);
  });
});
