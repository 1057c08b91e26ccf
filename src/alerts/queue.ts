/**
 * AlertQueue: one alert target's ordered, bounded, persistent queue of AlertEvents, and the
 * stores it persists through (FileQueueStore: one JSON file per target, replaced atomically).
 *
 * The queue is the only copy of an undelivered alert, so every resolved push/shift is on disk;
 * writes are serialized and coalesced (a burst of pushes costs a write or two, not one each).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { removeTempFiles, setAside, writeFileAtomic } from '../core/atomic-file.js';
import { systemClock, type Clock } from '../core/clock.js';
import { LvsError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { ALERT_EVENT_TYPES, type AlertEvent } from './types.js';

/**
 * Target names become file names: no separators, no leading dot, 1-63 characters. The same rule
 * as the config's alert `name` (src/config/schema.ts, alertSchema), which is where a bad name is
 * reported to the user; this check only guards the file system.
 */
const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** One queued alert and when it entered the queue (ms since the epoch, survives restarts). */
export interface QueuedAlert {
  readonly event: AlertEvent;
  readonly enqueuedAt: number;
}

/** Where a queue's content lives between restarts. save() is never called concurrently. */
export interface QueueStore {
  /** the content as last saved; [] when there is none (or it was unusable and set aside) */
  load(): Promise<QueuedAlert[]>;
  /** replace the saved content with `items`, durably, all or nothing */
  save(items: readonly QueuedAlert[]): Promise<void>;
}

export interface AlertQueueOptions {
  readonly target: string;
  /** most alerts held; past it the oldest (not in flight) are dropped */
  readonly max: number;
  readonly log: Logger;
  /** stamps enqueuedAt; the system clock unless given */
  readonly clock?: Clock;
}

interface WriteWaiter {
  readonly version: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class AlertQueue {
  readonly target: string;
  readonly max: number;
  private readonly store: QueueStore;
  private readonly log: Logger;
  private readonly clock: Clock;
  private items: QueuedAlert[];
  private inFlight = false;
  /** alerts trimmed at open because the file held more than max (reported once by the owner) */
  private droppedAtOpen: AlertEvent[];
  /** bumped by every change; a write covers every change up to the version it snapshotted */
  private version = 0;
  /** the version last saved successfully */
  private saved = 0;
  private writing = false;
  private waiters: WriteWaiter[] = [];

  private constructor(store: QueueStore, opts: AlertQueueOptions, items: QueuedAlert[], droppedAtOpen: AlertEvent[]) {
    this.target = opts.target;
    this.max = opts.max;
    this.store = store;
    this.log = opts.log;
    this.clock = opts.clock ?? systemClock;
    this.items = items;
    this.droppedAtOpen = droppedAtOpen;
  }

  /** The queue persisted in `<dir>/<target>.json` (dir created 0700). An unusable file is set aside, never fatal. */
  static async open(opts: AlertQueueOptions & { readonly dir: string }): Promise<AlertQueue> {
    const store = new FileQueueStore({ dir: opts.dir, target: opts.target, log: opts.log, clock: opts.clock ?? systemClock });
    await store.init();
    return AlertQueue.fromStore(store, opts);
  }

  /** The queue over any store (tests use an in-memory one). */
  static async fromStore(store: QueueStore, opts: AlertQueueOptions): Promise<AlertQueue> {
    if (!Number.isInteger(opts.max) || opts.max < 1) {
      throw new LvsError('LVSD_ERR_ALERT_QUEUE', `alert queue max must be an integer >= 1, got ${opts.max}`, { target: opts.target });
    }
    const items = await store.load();
    const over = Math.max(0, items.length - opts.max);
    const dropped = items.splice(0, over).map((i) => i.event);
    const q = new AlertQueue(store, opts, items, dropped);
    if (over > 0) {
      opts.log.warn({ target: opts.target, dropped: over, max: opts.max }, 'alert queue: saved queue over max, oldest dropped');
      await q.persist();
    }
    return q;
  }

  get length(): number {
    return this.items.length;
  }

  /** the head: the next alert to deliver */
  peek(): AlertEvent | undefined {
    return this.items[0]?.event;
  }

  /** when the oldest queued alert (the head) was enqueued, ms since the epoch */
  oldestAt(): number | undefined {
    return this.items[0]?.enqueuedAt;
  }

  /** a copy of the content, head first */
  snapshot(): QueuedAlert[] {
    return [...this.items];
  }

  /** whether the head is being delivered (then no push drops it) */
  get headInFlight(): boolean {
    return this.inFlight;
  }

  /** The deliverer marks the head in flight for an attempt: a push over max then drops behind it. */
  markInFlight(on: boolean): void {
    if (on && this.items.length === 0) throw new LvsError('LVSD_ERR_ALERT_QUEUE', 'alert queue: no head to mark in flight', { target: this.target });
    this.inFlight = on;
  }

  /** The alerts trimmed at open (file over max), handed out once. */
  takeDroppedAtOpen(): AlertEvent[] {
    const d = this.droppedAtOpen;
    this.droppedAtOpen = [];
    return d;
  }

  /**
   * Append `e` and resolve once it is on disk; returns what was dropped to stay within max (the
   * oldest, skipping an in-flight head: with max 1 and the head in flight, that is `e` itself).
   * Ids are not checked: each alert is pushed once, by the manager, under a new sequence number.
   * On a write error the change stays in memory (the next write carries it) and the promise rejects.
   */
  async push(e: AlertEvent): Promise<AlertEvent[]> {
    this.items.push({ event: e, enqueuedAt: this.clock.now() });
    const dropped: AlertEvent[] = [];
    while (this.items.length > this.max) {
      const [gone] = this.items.splice(this.inFlight ? 1 : 0, 1);
      if (!gone) break;
      dropped.push(gone.event);
    }
    await this.persist();
    return dropped;
  }

  /** Remove the head (delivered or rejected) and resolve once that is on disk. Clears in-flight. */
  async shift(): Promise<AlertEvent | undefined> {
    const head = this.items.shift();
    this.inFlight = false;
    if (!head) return undefined;
    await this.persist();
    return head.event;
  }

  /** Resolve when every change made so far is on disk. */
  async flush(): Promise<void> {
    if (this.saved === this.version) return;
    await this.persist(false);
  }

  /** Queue a write covering the current content; coalesces with writes already waiting. */
  private persist(changed = true): Promise<void> {
    if (changed) this.version++;
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ version: this.version, resolve, reject });
      if (!this.writing) void this.writeLoop();
    });
  }

  /** One write at a time; each write snapshots the newest content and answers everyone it covers. */
  private async writeLoop(): Promise<void> {
    this.writing = true;
    try {
      while (this.waiters.length > 0) {
        const version = this.version;
        const items = [...this.items];
        let failure: { error: unknown } | undefined;
        try {
          await this.store.save(items);
          this.saved = Math.max(this.saved, version);
        } catch (e) {
          failure = { error: e };
          this.log.error({ target: this.target, err: errorMessage(e) }, 'alert queue: write failed');
        }
        // answer at completion: a flush() that arrived mid-write is covered by this write too
        const covered = this.waiters.filter((w) => w.version <= version);
        this.waiters = this.waiters.filter((w) => w.version > version);
        for (const w of covered) {
          if (failure) w.reject(failure.error);
          else w.resolve();
        }
      }
    } finally {
      this.writing = false;
    }
  }
}

/** On disk: versioned, so a later format can tell an old file from a corrupt one. */
interface QueueFile {
  version: 1;
  target: string;
  items: { enqueuedAt: number; event: AlertEvent }[];
}

/**
 * One target's queue file, `<dir>/<target>.json`, replaced atomically (core/atomic-file). The
 * target name becomes the file name here, so this is where it is checked.
 */
export class FileQueueStore implements QueueStore {
  readonly file: string;
  private readonly dir: string;
  private readonly target: string;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(opts: { dir: string; target: string; log: Logger; clock: Clock }) {
    if (!TARGET_NAME.test(opts.target)) {
      throw new LvsError('LVSD_ERR_ALERT_TARGET', `invalid alert target name ${JSON.stringify(opts.target)}: want 1-63 of [A-Za-z0-9_.-], starting with a letter or digit`, { target: opts.target });
    }
    this.dir = opts.dir;
    this.target = opts.target;
    this.file = path.join(opts.dir, `${opts.target}.json`);
    this.log = opts.log;
    this.clock = opts.clock;
  }

  /** Create the directory and remove temp files a crash mid-write left behind (the real file is intact). */
  async init(): Promise<void> {
    try {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await removeTempFiles(this.file);
    } catch (e) {
      throw new LvsError('LVSD_ERR_ALERT_QUEUE', `alert queue directory ${this.dir}: ${errorMessage(e)}`, { dir: this.dir, target: this.target }, { cause: e });
    }
  }

  async load(): Promise<QueuedAlert[]> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      await this.setAside(`unreadable: ${errorMessage(e)}`);
      return [];
    }
    try {
      return parseQueueFile(text, this.target);
    } catch (e) {
      await this.setAside(errorMessage(e));
      return [];
    }
  }

  /** Keep a bad file for a human to look at, and start empty: the daemon must come up regardless. */
  private async setAside(why: string): Promise<void> {
    try {
      const aside = await setAside(this.file, this.clock.now());
      this.log.error({ target: this.target, file: this.file, aside, reason: why }, 'alert queue file unusable: set aside, starting with an empty queue');
    } catch (e) {
      // could not move it: the first write will replace it (or fail loudly then)
      this.log.error({ target: this.target, file: this.file, reason: why, err: errorMessage(e) }, 'alert queue file unusable and could not be set aside: starting with an empty queue');
    }
  }

  async save(items: readonly QueuedAlert[]): Promise<void> {
    const body: QueueFile = { version: 1, target: this.target, items: items.map((i) => ({ enqueuedAt: i.enqueuedAt, event: i.event })) };
    try {
      await writeFileAtomic(this.file, `${JSON.stringify(body)}\n`);
    } catch (e) {
      throw new LvsError('LVSD_ERR_ALERT_QUEUE', `alert queue write ${this.file}: ${errorMessage(e)}`, { file: this.file, target: this.target }, { cause: e });
    }
  }
}

const EVENT_TYPES: ReadonlySet<string> = new Set(ALERT_EVENT_TYPES);

/** Parse and check a queue file; throws (with what is wrong) on anything we did not write. */
function parseQueueFile(text: string, target: string): QueuedAlert[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new LvsError('LVSD_ERR_ALERT_QUEUE_FILE', `not JSON: ${errorMessage(e)}`);
  }
  if (!isRecord(doc)) throw new LvsError('LVSD_ERR_ALERT_QUEUE_FILE', 'not a JSON object');
  if (doc['version'] !== 1) throw new LvsError('LVSD_ERR_ALERT_QUEUE_FILE', `unknown version ${JSON.stringify(doc['version'])}`);
  if (doc['target'] !== target) throw new LvsError('LVSD_ERR_ALERT_QUEUE_FILE', `file is for target ${JSON.stringify(doc['target'])}, not ${JSON.stringify(target)}`);
  const items = doc['items'];
  if (!Array.isArray(items)) throw new LvsError('LVSD_ERR_ALERT_QUEUE_FILE', 'items is not an array');
  return items.map((it: unknown, i): QueuedAlert => {
    if (!isRecord(it) || typeof it['enqueuedAt'] !== 'number' || !Number.isFinite(it['enqueuedAt'])) {
      throw new LvsError('LVSD_ERR_ALERT_QUEUE_FILE', `items[${i}]: want {enqueuedAt: number, event}`);
    }
    const problem = eventProblem(it['event']);
    if (problem) throw new LvsError('LVSD_ERR_ALERT_QUEUE_FILE', `items[${i}].event: ${problem}`);
    return { enqueuedAt: it['enqueuedAt'], event: it['event'] as AlertEvent };
  });
}

function eventProblem(e: unknown): string | undefined {
  if (!isRecord(e)) return 'not an object';
  if (typeof e['seq'] !== 'number' || !Number.isFinite(e['seq'])) return 'seq is not a number';
  if (typeof e['id'] !== 'string' || e['id'] === '') return 'id is not a non-empty string';
  if (typeof e['type'] !== 'string' || !EVENT_TYPES.has(e['type'])) return `unknown type ${JSON.stringify(e['type'])}`;
  for (const k of ['at', 'node', 'detail']) if (typeof e[k] !== 'string') return `${k} is not a string`;
  for (const k of ['service', 'realserver', 'from', 'to', 'since']) if (e[k] !== undefined && typeof e[k] !== 'string') return `${k} is not a string`;
  for (const k of ['failures', 'repeat']) if (e[k] !== undefined && typeof e[k] !== 'number') return `${k} is not a number`;
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
