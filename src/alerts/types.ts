/**
 * Alerts: what happened (AlertEvent, numbered and keyed once, delivered to every target that
 * wants it), and how targets are configured. Pure data; the policy, queue and notifiers share it.
 */

import type { AlertEventType } from '../config/types.js';

export { ALERT_EVENT_TYPES, type AlertConfig, type AlertEventType, type AlertTarget, type WebhookFormat } from '../config/types.js';

/** An alert as queued, persisted and delivered. JSON-safe. */
export interface AlertEvent {
  /** monotonic per director, also across restarts */
  readonly seq: number;
  /** idempotency key: the same alert delivered twice (a retry, a restart) carries the same id */
  readonly id: string;
  readonly type: AlertEventType;
  /** ISO time the condition or event happened */
  readonly at: string;
  /** the director (config node.name) */
  readonly node: string;
  readonly service?: string;
  readonly realserver?: string;
  /** failover: the old and new VRRP state; transitions: old and new health */
  readonly from?: string;
  readonly to?: string;
  /** why, in words (the probe's verdict, the VRRP reason, the reload error) */
  readonly detail: string;
  /** consecutive failures when a down alert went out (mon's alertafter counts these) */
  readonly failures?: number;
  /** 0 for the first alert of a condition; n for the nth repeat (mon's alertevery) */
  readonly repeat?: number;
  /** for an *_up / recovery alert: when the condition began (alertmanager resolves by it) */
  readonly since?: string;
}

/** One delivery attempt's outcome; `permanent` failures are not retried (a 4xx other than 408/429). */
export type DeliveryResult = { readonly ok: true } | { readonly ok: false; readonly error: string; readonly permanent?: boolean };

/** Delivers one alert to one target (DESIGN's Notifier seam): webhook or exec. */
export interface Notifier {
  deliver(event: AlertEvent, signal: AbortSignal): Promise<DeliveryResult>;
}
