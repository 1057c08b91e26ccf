/**
 * Webhook bodies and headers for one alert: lvsd's own JSON (`generic`, optionally HMAC-signed),
 * Alertmanager's API v2, and Slack's incoming webhooks. Pure: no I/O, no clock (every time comes
 * from the event), so the same event always renders to the same bytes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { LvsError } from '../core/errors.js';
import type { AlertEvent, AlertEventType, WebhookFormat } from './types.js';

export interface RenderedWebhook {
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** The event cannot be rendered (an `at`/`since` that is not a time): retrying will not help. */
export class AlertFormatError extends LvsError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('LVSD_ERR_ALERT_FORMAT', message, context);
    this.name = 'AlertFormatError';
  }
}

const SIGNATURE_HEADER = 'x-lvsd-signature';
export const ALERTMANAGER_PATH = '/api/v2/alerts';

/** The path a format's API lives at, appended to the configured base URL unless it already ends with it (alertmanager). */
export function webhookPath(format: WebhookFormat): string | undefined {
  return format === 'alertmanager' ? ALERTMANAGER_PATH : undefined;
}

/** Key order of the JSON form: fixed, so receivers (and signatures) see the same bytes every time. */
const EVENT_KEYS = [
  'seq', 'id', 'type', 'at', 'node', 'service', 'realserver', 'from', 'to', 'detail', 'failures', 'repeat', 'since',
] as const satisfies readonly (keyof AlertEvent)[];

/** The event as JSON with a stable key order; absent optional fields are left out. */
export function eventJson(event: AlertEvent): string {
  const out: Record<string, unknown> = {};
  for (const key of EVENT_KEYS) {
    const value = event[key];
    if (value !== undefined) out[key] = value;
  }
  return JSON.stringify(out);
}

export function renderWebhook(event: AlertEvent, format: WebhookFormat, secret?: string): RenderedWebhook {
  let body: string;
  switch (format) {
    case 'generic':
      body = eventJson(event);
      break;
    case 'alertmanager':
      body = JSON.stringify([alertmanagerAlert(event)]);
      break;
    case 'slack':
      body = JSON.stringify({ text: slackText(event) });
      break;
  }
  // the same headers for every format: a proxy in front of Slack or Alertmanager can dedupe and verify too
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-lvsd-event': event.type,
    'x-lvsd-seq': String(event.seq),
    'idempotency-key': event.id,
  };
  if (secret !== undefined) headers[SIGNATURE_HEADER] = sign(body, secret);
  return { body, headers };
}

/** `sha256=<hex HMAC-SHA256 of the body's UTF-8 bytes>` */
export function sign(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** For receivers: does the signature header match the exact body bytes received? Timing-safe. */
export function verifySignature(body: string | Uint8Array, header: string | null | undefined, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) return false;
  const given = Buffer.from(m[1]!, 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

// ---- Alertmanager ----

export interface AlertmanagerAlert {
  readonly labels: Record<string, string>;
  readonly annotations: { readonly summary: string; readonly description: string };
  readonly startsAt: string;
  readonly endsAt: string;
}

const HOUR_MS = 3600_000;
/** a down alert outlives missed resolves by a day at most; lvsd sends the resolve itself */
const FIRING_TTL_MS = 24 * HOUR_MS;
/** one-shot events show for an hour */
const ONE_SHOT_TTL_MS = HOUR_MS;

/**
 * Recoveries and the firing type they resolve. Alertmanager matches alerts by their label set,
 * so a recovery must carry exactly the labels (severity included) of the alert it ends.
 */
const RESOLVES: Partial<Record<AlertEventType, AlertEventType>> = {
  realserver_up: 'realserver_down',
  service_up: 'service_down',
  drain_finished: 'drain_started',
};

const ALERTNAME: Record<AlertEventType, string> = {
  realserver_down: 'LvsdRealserverDown',
  realserver_up: 'LvsdRealserverDown',
  service_down: 'LvsdServiceDown',
  service_up: 'LvsdServiceDown',
  failover: 'LvsdFailover',
  config_reload_failed: 'LvsdConfigReloadFailed',
  drain_started: 'LvsdDrain',
  drain_finished: 'LvsdDrain',
};

function severity(firing: AlertEventType): string {
  if (firing === 'service_down') return 'critical';
  if (firing === 'realserver_down') return 'warning';
  return 'info';
}

export function alertmanagerAlert(event: AlertEvent): AlertmanagerAlert {
  const resolves = RESOLVES[event.type];
  const firing = resolves ?? event.type;
  const labels: Record<string, string> = { alertname: ALERTNAME[event.type], node: event.node };
  if (event.service !== undefined) labels.service = event.service;
  if (event.realserver !== undefined) labels.realserver = event.realserver;
  labels.severity = severity(firing);
  const annotations = { summary: summary(event), description: description(event) };
  const at = time(event.at, 'at');
  if (resolves !== undefined) {
    // resolved: the condition's span, ending now; a `since` after `at` (clock step) is clamped
    const since = event.since === undefined ? at : Math.min(time(event.since, 'since'), at);
    return { labels, annotations, startsAt: iso(since), endsAt: iso(at) };
  }
  const ttl = event.type === 'realserver_down' || event.type === 'service_down' ? FIRING_TTL_MS : ONE_SHOT_TTL_MS;
  return { labels, annotations, startsAt: iso(at), endsAt: iso(at + ttl) };
}

function time(value: string, field: string): number {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new AlertFormatError(`alert ${field} is not a time: ${JSON.stringify(value)}`, { field, value });
  return ms;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

// ---- words for humans ----

function where(event: AlertEvent): string {
  if (event.realserver !== undefined && event.service !== undefined) return `realserver ${event.realserver} of service ${event.service}`;
  if (event.realserver !== undefined) return `realserver ${event.realserver}`;
  if (event.service !== undefined) return `service ${event.service}`;
  return 'lvsd';
}

/** One line: what happened, where, on which director. */
export function summary(event: AlertEvent): string {
  const on = ` on ${event.node}`;
  switch (event.type) {
    case 'realserver_down':
    case 'service_down':
      return `${where(event)} is down${on}${event.repeat ? ` (repeat ${event.repeat})` : ''}`;
    case 'realserver_up':
    case 'service_up':
      return `${where(event)} is up again${on}`;
    case 'failover':
      return `VRRP ${event.from ?? '?'} → ${event.to ?? '?'}${on}`;
    case 'config_reload_failed':
      return `config reload failed${on}`;
    case 'drain_started':
      return `drain of ${where(event)} started${on}`;
    case 'drain_finished':
      return `drain of ${where(event)} finished${on}`;
  }
}

/** The detail, with the transition and counters that are present. */
export function description(event: AlertEvent): string {
  const facts: string[] = [];
  if (event.from !== undefined || event.to !== undefined) facts.push(`${event.from ?? '?'} → ${event.to ?? '?'}`);
  if (event.failures !== undefined) facts.push(`after ${event.failures} consecutive failure${event.failures === 1 ? '' : 's'}`);
  if (event.since !== undefined) facts.push(`since ${event.since}`);
  if (event.repeat) facts.push(`repeat ${event.repeat}`);
  return facts.length === 0 ? event.detail : `${event.detail} (${facts.join(', ')})`;
}

// ---- Slack ----

/** Slack treats &, < and > as markup (links, mentions): escape them as its docs ask. */
function slackEscape(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** `[node] type service realserver from→to: detail (after N failures, repeat n)` */
export function slackText(event: AlertEvent): string {
  const parts = [`[${event.node}]`, event.type];
  if (event.service !== undefined) parts.push(event.service);
  if (event.realserver !== undefined) parts.push(event.realserver);
  if (event.from !== undefined || event.to !== undefined) parts.push(`${event.from ?? '?'}→${event.to ?? '?'}`);
  const extra: string[] = [];
  if (event.failures !== undefined) extra.push(`after ${event.failures} failure${event.failures === 1 ? '' : 's'}`);
  if (event.repeat) extra.push(`repeat ${event.repeat}`);
  const text = `${parts.join(' ')}: ${event.detail}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
  return slackEscape(text);
}
