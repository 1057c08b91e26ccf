/**
 * Duration strings as the config writes them: `500ms`, `2s`, `1.5s`, `5m`, `1h`, `1d` and
 * combinations in descending order such as `1m30s`. Plain numbers are refused on purpose:
 * `timeout: 2` would be ambiguous (seconds? milliseconds?).
 */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;

const NUM = '(\\d+(?:\\.\\d+)?)';
/** Each unit at most once, largest first; an empty string matches too and is refused by the parser. */
export const DURATION_PATTERN = `^(?:${NUM}d)?(?:${NUM}h)?(?:${NUM}m)?(?:${NUM}s)?(?:${NUM}ms)?$`;
const DURATION_RE = new RegExp(DURATION_PATTERN);
const UNITS: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];

/** Longest duration accepted anywhere: Node's timers overflow past 2^31-1 ms (about 24.8 days). */
export const MAX_DURATION_MS = 2_147_483_647;

export const DURATION_EXPECTED = 'expected a duration string such as "2s"';

export type DurationResult = { readonly ms: number } | { readonly error: string };

/** Parses without throwing; `error` is a short message without any path prefix. */
export function tryParseDuration(value: unknown): DurationResult {
  if (typeof value !== 'string') return { error: DURATION_EXPECTED };
  const m = value === '' ? null : DURATION_RE.exec(value);
  if (!m) return { error: `invalid duration ${JSON.stringify(value)}; ${DURATION_EXPECTED}` };
  let ms = 0;
  UNITS.forEach((unit, i) => {
    const part = m[i + 1];
    if (part !== undefined) ms += Number(part) * UNIT_MS[unit];
  });
  // Rounding away float noise (1.1s = 1100.0000000000002) but refusing real sub-millisecond parts.
  const rounded = Math.round(ms);
  if (Math.abs(ms - rounded) > 1e-6) return { error: `invalid duration ${JSON.stringify(value)}: finer than a millisecond` };
  if (rounded > MAX_DURATION_MS) return { error: `duration ${JSON.stringify(value)} is too long (at most 24d)` };
  return { ms: rounded };
}

/** Milliseconds of a duration string; throws an Error with the message of `tryParseDuration`. */
export function parseDuration(value: unknown): number {
  const r = tryParseDuration(value);
  if ('error' in r) throw new Error(r.error);
  return r.ms;
}

/** The shortest readable form, for messages: 1500 → "1.5s", 90000 → "1m30s", 250 → "250ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm'] as const) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  if (rest > 0) out += `${rest / 1000}s`;
  return out;
}
