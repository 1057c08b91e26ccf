/**
 * banner: connect, optionally send a line, and read until the expected text shows up
 * (telnet `login:`, SMTP `220`, SSH version lines). Reads at most 4 KiB.
 */
import { connectTcp, isVerdict } from './connect.js';
import type { Verdict } from './result.js';
import { compileRegex, error, fail, ok, quotePrefix, runAttempt, type AttemptRegistry } from './result.js';
import type { Probe, ProbeContext, ProbeResult, ProbeTarget } from './types.js';

export const BANNER_MAX_BYTES = 4096;

export interface BannerSpec {
  readonly send?: string;
  readonly expect?: string;
}

export function createBannerProbe(spec: BannerSpec, stop: AttemptRegistry): Probe {
  // compiled once per probe; equal specs share the probe, so once per distinct regex
  const expect = spec.expect === undefined ? undefined : compileRegex(spec.expect);
  const shown = spec.expect === undefined ? '' : `/${spec.expect}/`;
  return {
    type: 'banner',
    check(target: ProbeTarget, ctx: ProbeContext): Promise<ProbeResult> {
      return runAttempt(ctx, stop, async (attempt) => {
        if (expect !== undefined && !(expect instanceof RegExp)) return expect;
        const res = await connectTcp(target, attempt);
        if (isVerdict(res)) return res;
        const sock = res;
        if (spec.send !== undefined && spec.send !== '') sock.write(spec.send, 'latin1');
        attempt.pending = expect ? `waiting for banner matching ${shown}` : 'waiting for banner';
        return new Promise<Verdict>((resolve) => {
          let text = '';
          const settle = (v: Verdict): void => {
            sock.destroy();
            resolve(v);
          };
          // latin1 maps every byte to one char: no split multi-byte sequences, byte count = length
          sock.setEncoding('latin1');
          sock.on('data', (chunk: string) => {
            text = (text + chunk).slice(0, BANNER_MAX_BYTES);
            if (expect === undefined) return settle(ok(`banner ${quotePrefix(text)}`));
            if (expect.test(text)) return settle(ok(`banner matched ${shown}: ${quotePrefix(text)}`));
            if (text.length >= BANNER_MAX_BYTES) {
              return settle(fail(`banner did not match ${shown} in ${BANNER_MAX_BYTES} bytes: got ${quotePrefix(text)}`));
            }
            attempt.pending = `waiting for banner matching ${shown} (got ${quotePrefix(text)})`;
          });
          sock.once('end', () => {
            settle(
              text === ''
                ? fail('connection closed before any banner')
                : fail(`banner did not match ${shown}: got ${quotePrefix(text)}`),
            );
          });
          sock.once('error', (e: NodeJS.ErrnoException) => {
            // reset mid-banner: no answer could be had, so `error` (a wrong answer would be `fail`)
            const got = text === '' ? 'before any banner' : `after ${quotePrefix(text)}`;
            settle(error(`connection ${e.code ?? e.message} ${got}`));
          });
        });
      });
    },
  };
}
