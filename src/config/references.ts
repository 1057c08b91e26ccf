/**
 * Files and programs a config names (token and secret files, commands, state_dir): found in the
 * parsed YAML by key, located as FILE:LINE:COL, then checked on disk. `lvsd validate`, `lvsd run`
 * and every reload check them through loadConfigFile, so a reload that names a missing secret is
 * refused before anything of it is applied.
 */
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../core/errors.js';
import { findProgram } from '../core/find-program.js';

/** what the named thing must be */
export type ReferenceKind = 'token' | 'secret' | 'program' | 'directory';

export interface ConfigReference {
  readonly kind: ReferenceKind;
  readonly value: string;
  /** where the value is written: the YAML path, e.g. ['alerts', 0, 'webhook', 'secret_file'] */
  readonly path: readonly (string | number)[];
}

/** API tokens shorter than this are refused: a bearer token is all that guards writes over TCP */
export const MIN_TOKEN_LENGTH = 16;
/** token and secret files are small; a bigger one is a wrong path, not a key */
const MAX_SECRET_BYTES = 64 * 1024;

type Seg = string | number;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const argvHead = (v: unknown): string | undefined => (Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);

/**
 * The references in a raw (YAML → JS) config, by key: `token_file` (api), `secret_file`
 * (webhooks), check `command`, alert and track `exec`, failover `notify` hooks, `state_dir`.
 * Runs on the raw tree so each reference keeps the path it was written at.
 */
export function collectReferences(raw: Record<string, unknown>): ConfigReference[] {
  const out: ConfigReference[] = [];
  const program = (argv: unknown, at: readonly Seg[]): void => {
    const head = argvHead(argv);
    // {address}/{port} are substituted per realserver: such a program name is only known then
    if (head !== undefined && !head.includes('{')) out.push({ kind: 'program', value: head, path: [...at, 0] });
  };
  if (typeof raw.state_dir === 'string') out.push({ kind: 'directory', value: raw.state_dir, path: ['state_dir'] });
  if (isRecord(raw.api) && typeof raw.api.token_file === 'string') out.push({ kind: 'token', value: raw.api.token_file, path: ['api', 'token_file'] });
  if (isRecord(raw.defaults) && isRecord(raw.defaults.check)) program(raw.defaults.check.command, ['defaults', 'check', 'command']);
  if (Array.isArray(raw.services)) {
    raw.services.forEach((s: unknown, i) => {
      if (!isRecord(s)) return;
      if (isRecord(s.check)) program(s.check.command, ['services', i, 'check', 'command']);
      if (!Array.isArray(s.realservers)) return;
      s.realservers.forEach((r: unknown, j) => {
        if (isRecord(r) && isRecord(r.check)) program(r.check.command, ['services', i, 'realservers', j, 'check', 'command']);
      });
    });
  }
  if (Array.isArray(raw.alerts)) {
    raw.alerts.forEach((a: unknown, i) => {
      if (!isRecord(a)) return;
      if (isRecord(a.webhook) && typeof a.webhook.secret_file === 'string') {
        out.push({ kind: 'secret', value: a.webhook.secret_file, path: ['alerts', i, 'webhook', 'secret_file'] });
      }
      program(a.exec, ['alerts', i, 'exec']);
    });
  }
  const f = raw.failover;
  if (isRecord(f)) {
    if (Array.isArray(f.track)) f.track.forEach((t: unknown, i) => isRecord(t) && program(t.exec, ['failover', 'track', i, 'exec']));
    if (isRecord(f.notify)) {
      for (const hook of ['master', 'backup', 'fault', 'stop', 'all']) program(f.notify[hook], ['failover', 'notify', hook]);
    }
  }
  return out;
}

/** what the checks depend on besides the file system */
export interface ReferenceIo {
  /** PATH for programs given by name */
  readonly env: NodeJS.ProcessEnv;
}

/** One reference's problem, or undefined when it is usable. Never throws. */
export async function checkReference(ref: ConfigReference, io: ReferenceIo): Promise<string | undefined> {
  switch (ref.kind) {
    case 'token':
    case 'secret':
      return checkSecretFile(ref);
    case 'program':
      return checkProgram(ref.value, io);
    case 'directory':
      return checkDirectory(ref.value);
  }
}

async function checkSecretFile(ref: ConfigReference): Promise<string | undefined> {
  const file = ref.value;
  let text: string;
  try {
    const st = await stat(file);
    if (!st.isFile()) return `${file} is not a regular file`;
    if (st.size > MAX_SECRET_BYTES) return `${file} has ${st.size} bytes: not a key file (at most ${MAX_SECRET_BYTES})`;
    // a key others can replace is no key; one others can read is leaked (ssh refuses both)
    if ((st.mode & 0o022) !== 0) return `${file} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`;
    if ((st.mode & 0o004) !== 0) return `${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 or 640 it`;
    text = (await readFile(file, 'utf8')).trim();
  } catch (e) {
    return `cannot read ${file}: ${errorMessage(e)}`;
  }
  if (text === '') return `${file} is empty`;
  if (ref.kind === 'token' && text.length < MIN_TOKEN_LENGTH) {
    return `the token in ${file} has ${text.length} characters: at least ${MIN_TOKEN_LENGTH} needed`;
  }
  return undefined;
}

async function checkProgram(name: string, io: ReferenceIo): Promise<string | undefined> {
  if (!name.includes('/')) {
    return findProgram(name, io.env.PATH ?? '') === undefined ? `program ${name} is not on PATH (${io.env.PATH ?? ''}) or in the system directories` : undefined;
  }
  if (!path.isAbsolute(name)) return `program ${name}: give an absolute path or a name looked up on PATH (the daemon's working directory is not the config's)`;
  try {
    const st = await stat(name);
    if (!st.isFile()) return `program ${name} is not a regular file`;
    await access(name, constants.X_OK);
  } catch (e) {
    return `program ${name} cannot be run: ${errorMessage(e)}`;
  }
  return undefined;
}

async function checkDirectory(dir: string): Promise<string | undefined> {
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return `${dir} exists and is not a directory`;
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // lvsd creates state_dir at start: a missing one is fine if its parent can hold it
    if (code === 'ENOENT' || code === 'ENOTDIR') return checkDirectoryParent(dir);
    return `${dir}: ${errorMessage(e)}`;
  }
  return undefined;
}

async function checkDirectoryParent(dir: string): Promise<string | undefined> {
  let parent = path.dirname(path.resolve(dir));
  // mkdir -p: walk up to the first ancestor that exists
  for (;;) {
    try {
      const st = await stat(parent);
      if (!st.isDirectory()) return `${dir} cannot be created: ${parent} is not a directory`;
      await access(parent, constants.W_OK | constants.X_OK);
      return undefined;
    } catch (e) {
      const c = (e as NodeJS.ErrnoException).code;
      if (c !== 'ENOENT' && c !== 'ENOTDIR') return `${dir} cannot be created: ${errorMessage(e)}`;
      const up = path.dirname(parent);
      if (up === parent) return `${dir} cannot be created`;
      parent = up;
    }
  }
}

export interface ReferenceProblem<R extends ConfigReference> {
  /** the first place the thing is named */
  readonly ref: R;
  readonly message: string;
}

/**
 * Each program and file checked once however often it is named (an exec check inherited by
 * 50,000 realservers is one check): a problem is reported at its first place, with a count of
 * the others.
 */
export async function checkReferences<R extends ConfigReference>(refs: readonly R[], io: ReferenceIo): Promise<ReferenceProblem<R>[]> {
  const groups = new Map<string, R[]>();
  for (const ref of refs) {
    const key = `${ref.kind}\0${ref.value}`;
    const g = groups.get(key);
    if (g) g.push(ref);
    else groups.set(key, [ref]);
  }
  const checked = await Promise.all([...groups.values()].map(async (g) => {
    const message = await checkReference(g[0]!, io);
    if (message === undefined) return undefined;
    const more = g.length - 1;
    return { ref: g[0]!, message: more > 0 ? `${message} (named in ${more} more place${more === 1 ? '' : 's'})` : message };
  }));
  return checked.filter((p): p is ReferenceProblem<R> => p !== undefined);
}
