/**
 * Fallback when fping is absent: one system `ping` (iputils) process per target.
 * Slower and heavier than fping, but correct; the kit warns once when it is in use.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import type { PingReply, PingRequest, Pinger } from './ping-types.js';
import { perEchoWaitMs } from './ping-types.js';
import { abortSignalOf } from './cancel.js';
import { firstLine } from './result.js';

/** gap between echoes when count > 1 (iputils lets unprivileged users go down to 2 ms) */
const INTERVAL_MS = 200;

export class SystemPinger implements Pinger {
  private readonly path: string;

  constructor(path = 'ping') {
    this.path = path;
  }

  ping(req: PingRequest): Promise<PingReply> {
    const waitMs = perEchoWaitMs(req.timeoutMs - (req.count - 1) * INTERVAL_MS, 1, 0);
    const args = ['-n', '-q', '-c', String(req.count), '-W', (waitMs / 1000).toFixed(3)];
    if (req.count > 1) args.push('-i', String(INTERVAL_MS / 1000));
    if (net.isIPv6(req.address)) args.push('-6');
    args.push(req.address);
    return new Promise((resolve) => {
      execFile(
        this.path,
        args,
        // the signal kills ping when the check is aborted; `timeout` is only a backstop
        { signal: abortSignalOf(req.signal), killSignal: 'SIGKILL', timeout: req.timeoutMs + 2000, maxBuffer: 64 * 1024 },
        (err, stdout, stderr) => {
          const code = (err as NodeJS.ErrnoException | null)?.code;
          if (code === 'ENOENT' || code === 'EACCES') {
            return resolve({ kind: 'error', detail: `ping at ${this.path} could not start (${code})` });
          }
          const parsed = parsePingSummary(stdout);
          if (parsed) return resolve({ kind: 'replies', ...parsed });
          const why = firstLine(stderr) || firstLine(stdout) || (err ? err.message : 'no summary');
          resolve({ kind: 'error', detail: `ping: ${why}` });
        },
      );
    });
  }

  close(): void {
    // every ping process is bound to its check's signal, which the kit aborts on close
  }
}

/**
 * iputils summary: `1 packets transmitted, 1 received, ...` and
 * `rtt min/avg/max/mdev = 0.011/0.011/0.011/0.000 ms`. Only the average RTT is given, so it
 * stands in for every reply.
 */
export function parsePingSummary(text: string): { sent: number; rttsMs: number[] } | undefined {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  if (!counts) return undefined;
  const sent = Number(counts[1]);
  const received = Number(counts[2]);
  const avg = /=\s*[\d.]+\/([\d.]+)\//.exec(text);
  const rtt = avg ? Number(avg[1]) : 0;
  return { sent, rttsMs: Array.from({ length: received }, () => rtt) };
}
