/**
 * Alert sequence numbers, monotonic across restarts: the file holds a bound no number handed
 * out has reached, raised a block at a time before it is needed, so a number costs a disk
 * write only once per block and a crash can only skip numbers, never repeat one. The file's
 * random epoch goes into every idempotency key, so a lost state_dir cannot make a new alert
 * look like an old one to a receiver that de-duplicates.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTempFiles, setAside, writeFileAtomic } from '../core/atomic-file.js';
import { LvsError, errorMessage } from '../core/errors.js';

const SEQUENCE_FILE = '.seq.json';

const BLOCK = 1000;

interface SeqFile {
  readonly epoch: string;
  /** every number handed out is below this */
  readonly bound: number;
}

export class SequenceStore {
  readonly epoch: string;
  private nextValue: number;
  private bound: number;
  private readonly file: string;

  private constructor(file: string, s: SeqFile) {
    this.file = file;
    this.epoch = s.epoch;
    this.nextValue = s.bound;
    this.bound = s.bound;
  }

  /**
   * `<dir>/.seq.json` (the dot: no alert target's queue file, `<name>.json` with a name that
   * starts with a letter or digit, can be it); a missing file starts a new epoch at 1. A corrupt one is set aside (its
   * name is passed to `onCorrupt`) and a new epoch begins: new keys cannot collide with old ones.
   */
  static readonly FILE = SEQUENCE_FILE;

  static async open(dir: string, onCorrupt?: (movedTo: string, reason: string) => void): Promise<SequenceStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, SEQUENCE_FILE);
    await removeTempFiles(file);
    let s: SeqFile;
    try {
      const raw = JSON.parse(await readFile(file, 'utf8')) as Partial<SeqFile>;
      if (typeof raw.epoch !== 'string' || !Number.isSafeInteger(raw.bound) || (raw.bound ?? 0) < 1) throw new Error('not a sequence file');
      s = { epoch: raw.epoch, bound: raw.bound! };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        let aside: string;
        try {
          aside = await setAside(file);
        } catch (re) {
          throw new LvsError('LVSD_ERR_STATE', `alert sequence file ${file} is unreadable (${errorMessage(e)}) and cannot be moved aside: ${errorMessage(re)}`, { file });
        }
        onCorrupt?.(aside, errorMessage(e));
      }
      s = { epoch: randomBytes(4).toString('hex'), bound: 1 };
    }
    const store = new SequenceStore(file, s);
    await store.raise();
    return store;
  }

  /** the next number; persisted before it is returned when the block runs out */
  async next(): Promise<number> {
    if (this.nextValue >= this.bound) await this.raise();
    return this.nextValue++;
  }

  /** the idempotency key of a number */
  key(node: string, seq: number): string {
    return `${node}-${this.epoch}-${seq}`;
  }

  private async raise(): Promise<void> {
    const bound = this.nextValue + BLOCK;
    await writeFileAtomic(this.file, `${JSON.stringify({ epoch: this.epoch, bound } satisfies SeqFile)}\n`);
    this.bound = bound;
  }
}
