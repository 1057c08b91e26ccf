/**
 * WebhookNotifier: one alert, one HTTP POST (undici), rendered by formats.ts. The attempt has a
 * total deadline (connect + headers + body), the response body is always drained, and the
 * outcome is a DeliveryResult: 2xx ok; other 4xx than 408/429 permanent; anything else (5xx,
 * 408, 429, a 3xx since redirects are not followed, network errors, the deadline) retryable.
 * deliver() never throws.
 */
import { request, type Dispatcher } from 'undici';
import { errorMessage } from '../core/errors.js';
import { readBounded } from '../core/read-bounded.js';
import { renderWebhook } from './formats.js';
import type { AlertEvent, DeliveryResult, Notifier, WebhookFormat } from './types.js';

export interface WebhookNotifierOptions {
  readonly url: string;
  readonly format: WebhookFormat;
  readonly secret?: string | undefined;
  /** the whole attempt's deadline, from connect to the last byte of the response */
  readonly timeoutMs: number;
  /** connection pool to use; undici's global one when absent */
  readonly dispatcher?: Dispatcher | undefined;
}

/** characters of an error response's body quoted in the error */
const ERROR_BODY_CHARS = 200;
/** bytes of an error response read for that quote; the rest is dropped with the connection */
const ERROR_BODY_BYTES = 4096;
/** bytes of a 2xx body drained to keep the connection; a longer one is dropped with it */
const DRAIN_BYTES = 64 * 1024;
const USER_AGENT = 'lvsd-alerts';

export class WebhookNotifier implements Notifier {
  private readonly opts: WebhookNotifierOptions;

  constructor(opts: WebhookNotifierOptions) {
    this.opts = opts;
  }

  async deliver(event: AlertEvent, signal: AbortSignal): Promise<DeliveryResult> {
    let rendered: ReturnType<typeof renderWebhook>;
    let url: URL;
    try {
      rendered = renderWebhook(event, this.opts.format, this.opts.secret);
      url = targetUrl(this.opts.url, rendered.path);
    } catch (err) {
      // the same event and config would fail the same way on every retry
      return { ok: false, permanent: true, error: errorMessage(err) };
    }
    if (signal.aborted) return { ok: false, error: 'aborted before sending' };
    const deadline = deadlineSignal(signal, this.opts.timeoutMs);
    try {
      const res = await request(url, {
        method: 'POST',
        headers: { ...rendered.headers, 'user-agent': USER_AGENT },
        body: rendered.body,
        signal: deadline.signal,
        ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
        // backstops only: the deadline signal is the precise limit
        headersTimeout: this.opts.timeoutMs + 1000,
        bodyTimeout: this.opts.timeoutMs + 1000,
      });
      const status = res.statusCode;
      if (status >= 200 && status < 300) {
        // drained, so the keep-alive connection goes back to the pool
        await res.body.dump({ limit: DRAIN_BYTES, signal: deadline.signal });
        // undici frees the connection a turn after the body's close: without it, the next alert
        // (the queue sends them back to back) would find it busy and open another
        await new Promise((resolve) => setImmediate(resolve));
        return { ok: true };
      }
      const text = await readPrefix(res.body);
      const error = `HTTP ${status}${text === '' ? '' : `: ${text}`}`;
      const retryable = status === 408 || status === 429 || status >= 500 || status < 400;
      return retryable ? { ok: false, error } : { ok: false, permanent: true, error };
    } catch (err) {
      if (deadline.timedOut()) return { ok: false, error: `no complete answer within ${this.opts.timeoutMs}ms` };
      if (signal.aborted) return { ok: false, error: 'aborted' };
      return { ok: false, error: networkError(err) };
    } finally {
      deadline.dispose();
    }
  }
}

/**
 * The URL to POST to: the configured one, with the format's path appended unless it already
 * ends with it (`http://am:9093` and `http://am:9093/api/v2/alerts` both work).
 */
export function targetUrl(configured: string, path: string | undefined): URL {
  const url = new URL(configured);
  if (path !== undefined) {
    const base = url.pathname.replace(/\/+$/, '');
    if (!base.endsWith(path)) url.pathname = `${base}${path}`;
  }
  return url;
}

/**
 * The caller's signal, or the deadline, whichever comes first. Hand-made rather than
 * AbortSignal.any(): on Node 20 every any() signal stays referenced by a long-lived parent
 * (the daemon's stop signal) for the life of the process, one leak per delivery.
 */
function deadlineSignal(parent: AbortSignal, timeoutMs: number): { signal: AbortSignal; timedOut: () => boolean; dispose: () => void } {
  const ctl = new AbortController();
  let timedOut = false;
  const onAbort = (): void => ctl.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort(new DOMException(`no answer within ${timeoutMs}ms`, 'TimeoutError'));
  }, timeoutMs);
  return {
    signal: ctl.signal,
    timedOut: () => timedOut,
    dispose: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onAbort);
    },
  };
}

/** The first ERROR_BODY_CHARS characters of a body, whitespace folded (read bounded). */
async function readPrefix(body: Dispatcher.ResponseData['body']): Promise<string> {
  const text = (await readBounded(body, ERROR_BODY_BYTES)).replace(/\s+/g, ' ').trim();
  return text.length > ERROR_BODY_CHARS ? `${text.slice(0, ERROR_BODY_CHARS)}…` : text;
}

function networkError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = errorMessage(err);
  return typeof code === 'string' && code !== message ? `${code}: ${message}` : message;
}
