/**
 * mon's `period` as a cron window: a time is inside when its minute matches the expression
 * (the seconds field, if given, is ignored: a window is made of minutes). Pure; node-cron
 * parses the expression, the match is ours so it runs on any clock. Local time, as cron.
 */
import { parse } from 'node-cron';

export type Period = (ms: number) => boolean;

export function compilePeriod(expr: string): Period {
  const f = parse(expr);
  const minute = new Set(f.minute);
  const hour = new Set(f.hour);
  const month = new Set(f.month);
  const dom = new Set(f.dayOfMonth.map(Number));
  const dow = new Set(f.dayOfWeek.map((d) => Number(d) % 7));
  // cron: when both day fields are restricted, either may match
  const domAll = dom.size >= 31;
  const dowAll = dow.size >= 7;
  return (ms) => {
    const d = new Date(ms);
    if (!minute.has(d.getMinutes()) || !hour.has(d.getHours()) || !month.has(d.getMonth() + 1)) return false;
    const domOk = dom.has(d.getDate());
    const dowOk = dow.has(d.getDay());
    if (domAll || dowAll) return domOk && dowOk;
    return domOk || dowOk;
  };
}
