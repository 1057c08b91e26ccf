/**
 * ExecNotifier: one alert, one run of a command (argv, never a shell; core/run-command) with the
 * event's JSON on stdin and LVSD_EVENT_TYPE / LVSD_EVENT_SEQ / LVSD_EVENT_ID in its environment.
 * Exit 0 = delivered; a non-zero exit, a signal or a program that cannot start is a retryable
 * failure quoting stderr; a command that can never run (empty, a NUL in argv) is permanent.
 * deliver() never throws.
 *
 * The command runs in its own process group. The caller's signal is the deadline (the Deliverer
 * aborts it at the alert's `timeout`): aborting kills the whole group. When the command exits,
 * what it left in its group is killed too, so alerts never pile up stray processes, and a
 * grandchild holding the pipes open cannot hold up the answer.
 */
import { CommandError, runCommand } from '../core/run-command.js';
import { errorMessage } from '../core/errors.js';
import { eventJson } from './formats.js';
import type { AlertEvent, DeliveryResult, Notifier } from './types.js';

export interface ExecNotifierOptions {
  readonly command: readonly string[];
}

/** characters of stderr quoted in a failure */
const STDERR_CHARS = 200;
/** bytes of stdout and stderr kept (enough for the quote); the rest is read and dropped */
const OUTPUT_BYTES = 4096;

export class ExecNotifier implements Notifier {
  private readonly opts: ExecNotifierOptions;

  constructor(opts: ExecNotifierOptions) {
    this.opts = opts;
  }

  async deliver(event: AlertEvent, signal: AbortSignal): Promise<DeliveryResult> {
    const [file, ...args] = this.opts.command;
    if (file === undefined || file === '') return { ok: false, permanent: true, error: 'empty command' };
    if (signal.aborted) return { ok: false, error: 'aborted before running' };
    try {
      const r = await runCommand(file, args, {
        input: `${eventJson(event)}\n`,
        signal,
        env: { ...process.env, LVSD_EVENT_TYPE: event.type, LVSD_EVENT_SEQ: String(event.seq), LVSD_EVENT_ID: event.id },
        maxOutputBytes: OUTPUT_BYTES,
        killGroupOnExit: true,
      });
      if (r.code === 0) return { ok: true };
      const why = r.code !== null ? `exit ${r.code}` : `killed by ${r.signal ?? 'a signal'}`;
      const quote = stderrQuote(r.stderr);
      return { ok: false, error: `${file}: ${why}${quote === '' ? '' : `: ${quote}`}` };
    } catch (err) {
      if (err instanceof CommandError) {
        if (err.code === 'LVSD_ERR_COMMAND_ABORTED') return { ok: false, error: `${file}: aborted (killed)` };
        // could not start (ENOENT, EACCES): retryable, the program may be installed meanwhile
        if (err.code === 'LVSD_ERR_COMMAND_START') return { ok: false, error: `cannot run ${file}: ${String(err.context['errno'] ?? err.message)}` };
        return { ok: false, error: err.message };
      }
      // spawn threw (a NUL byte in argv): the config is wrong, not the moment
      return { ok: false, permanent: true, error: `cannot run ${file}: ${errorMessage(err)}` };
    }
  }
}

function stderrQuote(stderr: string): string {
  const text = stderr.replace(/\s+/g, ' ').trim();
  return text.length > STDERR_CHARS ? `${text.slice(0, STDERR_CHARS)}…` : text;
}
