/**
 * WebhookNotifier: one alert, one HTTP POST (undici), rendered by formats.ts. The response body
 * is always drained (bounded), and the outcome is a DeliveryResult: 2xx ok; other 4xx than
 * 408/429 permanent; anything else (5xx, 408, 429, a 3xx since redirects are not followed,
 * network errors, the signal aborting it) retryable. deliver() never throws.
 *
 * The attempt's deadline is the caller's signal (the Deliverer aborts it at the alert's
 * `timeout`): it bounds the whole attempt, connect to the last byte of the response.
 */
import { request, type Dispatcher } from 'undici';
import { errorMessage } from '../core/errors.js';
import { readBounded } from '../core/read-bounded.js';
import { renderWebhook, webhookPath } from './formats.js';
import type { AlertEvent, DeliveryResult, Notifier, WebhookFormat } from './types.js';

export interface WebhookNotifierOptions {
  readonly url: string;
  readonly format: WebhookFormat;
  readonly secret?: string | undefined;
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
  /** where to POST, or why there is nowhere (the config checks URLs: only a direct caller gets here) */
  private readonly url: URL | { readonly error: string };

  constructor(opts: WebhookNotifierOptions) {
    this.opts = opts;
    try {
      this.url = targetUrl(opts.url, webhookPath(opts.format));
    } catch (err) {
      this.url = { error: errorMessage(err) };
    }
  }

  async deliver(event: AlertEvent, signal: AbortSignal): Promise<DeliveryResult> {
    // the same event and config would fail the same way on every retry
    if (!(this.url instanceof URL)) return { ok: false, permanent: true, error: this.url.error };
    let rendered: ReturnType<typeof renderWebhook>;
    try {
      rendered = renderWebhook(event, this.opts.format, this.opts.secret);
    } catch (err) {
      return { ok: false, permanent: true, error: errorMessage(err) };
    }
    if (signal.aborted) return { ok: false, error: 'aborted before sending' };
    try {
      const res = await request(this.url, {
        method: 'POST',
        headers: { ...rendered.headers, 'user-agent': USER_AGENT },
        body: rendered.body,
        // aborting it also ends the response body's stream: the signal bounds the reads below too
        signal,
        ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      });
      const status = res.statusCode;
      if (status >= 200 && status < 300) {
        // drained, so the keep-alive connection goes back to the pool
        await res.body.dump({ limit: DRAIN_BYTES, signal });
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
      if (signal.aborted) return { ok: false, error: 'aborted' };
      return { ok: false, error: networkError(err) };
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
