/**
 * The operator's overrides (drain, maint, weight), kept in state_dir/overrides.json so they
 * survive restarts and reloads. Written whole and atomically (temp file, fsync, rename); a
 * corrupt file is set aside and reported, never the reason lvsd does not start.
 */
import { flatString } from '../core/flat-string.js';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTempFiles, setAside, writeFileAtomic } from '../core/atomic-file.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { isWeight } from '../state/weight.js';

export interface Override {
  /** drain: weight 0, connections carry on; maint: out of the table */
  readonly admin?: 'drain' | 'maint';
  /** the weight to use instead of the configured one */
  readonly weight?: number;
  /** ms since the epoch when the admin state ends by itself */
  readonly until?: number;
  readonly reason?: string;
  /** ms since the epoch the file was written */
  readonly since: number;
}

/** "service|realserver" → its override */
export type Overrides = ReadonlyMap<string, Override>;

export const overrideKey = (service: string, realserver: string): string => flatString(`${service}|${realserver}`);

export interface OverrideStore {
  load(): Promise<Map<string, Override>>;
  save(overrides: Overrides): Promise<void>;
}

/** for tests and the demo: nothing on disk */
export class MemoryOverrideStore implements OverrideStore {
  private data = new Map<string, Override>();
  async load(): Promise<Map<string, Override>> {
    return new Map(this.data);
  }
  async save(o: Overrides): Promise<void> {
    this.data = new Map(o);
  }
}

export class FileOverrideStore implements OverrideStore {
  private readonly file: string;
  private readonly log: Logger;
  /** saves run one after another, the last one wins */
  private chain: Promise<void> = Promise.resolve();

  constructor(stateDir: string, log: Logger) {
    this.file = path.join(stateDir, 'overrides.json');
    this.log = log;
  }

  async load(): Promise<Map<string, Override>> {
    // a write a crash cut short leaves its temp file behind
    await removeTempFiles(this.file).catch(() => undefined);
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      this.log.error({ file: this.file, err: errorMessage(e) }, 'overrides unreadable: starting without them');
      return new Map();
    }
    try {
      const raw = JSON.parse(text) as { version?: unknown; overrides?: unknown };
      if (raw.version !== 1 || !raw.overrides || typeof raw.overrides !== 'object') throw new Error('not an lvsd overrides file');
      const out = new Map<string, Override>();
      for (const [k, v] of Object.entries(raw.overrides as Record<string, unknown>)) {
        const o = v as Partial<Override>;
        const okAdmin = o.admin === undefined || o.admin === 'drain' || o.admin === 'maint';
        const okWeight = o.weight === undefined || isWeight(o.weight);
        if (!k.includes('|') || !okAdmin || !okWeight || typeof o.since !== 'number') throw new Error(`bad entry ${JSON.stringify(k)}`);
        out.set(k, o as Override);
      }
      return out;
    } catch (e) {
      const aside = await setAside(this.file).catch((err: unknown) => `(could not be moved: ${errorMessage(err)})`);
      this.log.error({ file: aside, err: errorMessage(e) }, 'overrides file was corrupt: set aside, starting without overrides');
      return new Map();
    }
  }

  save(overrides: Overrides): Promise<void> {
    const snapshot = `${JSON.stringify({ version: 1, overrides: Object.fromEntries(overrides) }, null, 2)}\n`;
    const run = this.chain.then(() => this.write(snapshot));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(text: string): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, text);
  }
}
