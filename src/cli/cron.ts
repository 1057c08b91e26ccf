import cron from 'node-cron';
import type { Logger } from '../core/log.js';
import type { CronStarter } from '../scheduler/scheduler.js';

/** node-cron behind the scheduler's CronStarter: noOverlap, its warnings into our log. */
export function nodeCronStarter(log: Logger): CronStarter {
  return (expression, fire) => {
    const task = cron.createTask(expression, async () => { await fire(); }, {
      noOverlap: true,
      logger: {
        info: (m: string) => log.debug({ cron: expression }, m),
        warn: (m: string) => log.warn({ cron: expression }, m),
        error: (m: string | Error) => log.error({ cron: expression }, String(m)),
        debug: (m: string) => log.debug({ cron: expression }, m),
      },
    });
    void task.start();
    return { stop: () => { void task.destroy(); } };
  };
}
