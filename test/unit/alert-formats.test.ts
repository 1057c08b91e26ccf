/**
 * Webhook formats: lvsd's generic JSON and its HMAC signature, Alertmanager API v2 alerts
 * (firing, resolved, one-shot), Slack text. Pure functions, exact outputs.
 */
import { describe, expect, it } from 'vitest';
import {
  ALERTMANAGER_PATH, AlertFormatError, alertmanagerAlert, eventJson, renderWebhook, sign, slackText, verifySignature, webhookPath,
} from '../../src/alerts/formats.js';
import { ALERT_EVENT_TYPES, type AlertEvent, type AlertEventType, type WebhookFormat } from '../../src/alerts/types.js';

const DOWN: AlertEvent = {
  seq: 42,
  id: 'lb1-42',
  type: 'realserver_down',
  at: '2024-05-01T10:00:00.000Z',
  node: 'lb1',
  service: 'web',
  realserver: '198.51.100.2:80',
  from: 'up',
  to: 'down',
  detail: 'connect ECONNREFUSED',
  failures: 3,
  repeat: 0,
};

const UP: AlertEvent = {
  seq: 43,
  id: 'lb1-43',
  type: 'realserver_up',
  at: '2024-05-01T10:05:00.000Z',
  node: 'lb1',
  service: 'web',
  realserver: '198.51.100.2:80',
  from: 'down',
  to: 'up',
  detail: 'HTTP 200',
  since: '2024-05-01T10:00:00.000Z',
};

describe('generic', () => {
  it('is the event as JSON in a fixed key order, whatever order the object was built in', () => {
    const shuffled = Object.fromEntries(Object.entries(DOWN).reverse()) as unknown as AlertEvent;
    const { body } = renderWebhook(shuffled, 'generic');
    expect(body).toBe(
      '{"seq":42,"id":"lb1-42","type":"realserver_down","at":"2024-05-01T10:00:00.000Z","node":"lb1","service":"web",'
      + '"realserver":"198.51.100.2:80","from":"up","to":"down","detail":"connect ECONNREFUSED","failures":3,"repeat":0}',
    );
    expect(JSON.parse(body)).toEqual(DOWN);
    expect(webhookPath('generic')).toBeUndefined();
  });

  it('leaves out absent fields and anything that is not an event field', () => {
    const bare = { seq: 1, id: 'x', type: 'failover', at: DOWN.at, node: 'lb1', detail: 'd', extra: 'no' } as unknown as AlertEvent;
    expect(eventJson(bare)).toBe(`{"seq":1,"id":"x","type":"failover","at":"${DOWN.at}","node":"lb1","detail":"d"}`);
  });

  it('headers name the event, its seq and its idempotency key; no signature without a secret', () => {
    expect(renderWebhook(DOWN, 'generic').headers).toEqual({
      'content-type': 'application/json',
      'x-lvsd-event': 'realserver_down',
      'x-lvsd-seq': '42',
      'idempotency-key': 'lb1-42',
    });
  });
});

describe('signature', () => {
  it('is the HMAC-SHA256 of the body (the well-known "quick brown fox" vector)', () => {
    expect(sign('The quick brown fox jumps over the lazy dog', 'key'))
      .toBe('sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
  });

  it('verifies against the exact body and fails when one byte changes', () => {
    const { body, headers } = renderWebhook(DOWN, 'generic', 's3cret');
    const header = headers['x-lvsd-signature'];
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifySignature(body, header, 's3cret')).toBe(true);
    expect(verifySignature(Buffer.from(body), header, 's3cret')).toBe(true);
    // one byte: the seq 42 -> 43
    const tampered = body.replace('"seq":42', '"seq":43');
    expect(tampered).not.toBe(body);
    expect(verifySignature(tampered, header, 's3cret')).toBe(false);
    const flipped = Buffer.from(body);
    const at = flipped.length - 2;
    flipped[at] = flipped[at]! ^ 1;
    expect(verifySignature(flipped, header, 's3cret')).toBe(false);
    expect(verifySignature(body, header, 'other')).toBe(false);
  });

  it('rejects a missing, malformed or truncated header', () => {
    const { body, headers } = renderWebhook(DOWN, 'generic', 's3cret');
    const header = headers['x-lvsd-signature']!;
    expect(verifySignature(body, undefined, 's3cret')).toBe(false);
    expect(verifySignature(body, '', 's3cret')).toBe(false);
    expect(verifySignature(body, header.slice('sha256='.length), 's3cret')).toBe(false);
    expect(verifySignature(body, header.slice(0, -2), 's3cret')).toBe(false);
    expect(verifySignature(body, header.replace('sha256=', 'sha1='), 's3cret')).toBe(false);
  });

  it('signs the bytes actually sent, in every format', () => {
    for (const format of ['generic', 'alertmanager', 'slack'] as const) {
      const { body, headers } = renderWebhook(UP, format, 'k');
      expect(verifySignature(body, headers['x-lvsd-signature'], 'k'), format).toBe(true);
    }
  });
});

describe('every format', () => {
  it('carries the idempotency key and JSON content type, and renders every event type as that type', () => {
    // a recovery carries the alertname of the alert it resolves
    const alertname: Record<AlertEventType, string> = {
      realserver_down: 'LvsdRealserverDown', realserver_up: 'LvsdRealserverDown', service_down: 'LvsdServiceDown', service_up: 'LvsdServiceDown',
      failover: 'LvsdFailover', config_reload_failed: 'LvsdConfigReloadFailed', drain_started: 'LvsdDrain', drain_finished: 'LvsdDrain',
    };
    for (const format of ['generic', 'alertmanager', 'slack'] as WebhookFormat[]) {
      for (const type of ALERT_EVENT_TYPES) {
        const what = `${format} ${type}`;
        const { body, headers } = renderWebhook({ ...DOWN, type, id: `id-${type}` }, format);
        expect(headers['idempotency-key'], what).toBe(`id-${type}`);
        expect(headers['content-type'], what).toBe('application/json');
        expect(headers['x-lvsd-event'], what).toBe(type);
        const doc = JSON.parse(body) as unknown;
        if (format === 'generic') {
          expect((doc as AlertEvent).type, what).toBe(type);
        } else if (format === 'slack') {
          expect((doc as { text: string }).text, what).toMatch(new RegExp(`^\\[lb1\\] ${type} `));
        } else {
          const [alert, ...more] = doc as { labels: Record<string, string> }[];
          expect(more, what).toEqual([]);
          expect(alert!.labels['alertname'], what).toBe(alertname[type]);
        }
      }
    }
  });
});

describe('alertmanager', () => {
  it('a firing realserver_down: one alert, its labels, 24 h until lvsd resolves it, the API v2 path', () => {
    const { body } = renderWebhook(DOWN, 'alertmanager');
    expect(webhookPath('alertmanager')).toBe(ALERTMANAGER_PATH);
    expect(JSON.parse(body)).toEqual([{
      labels: { alertname: 'LvsdRealserverDown', node: 'lb1', service: 'web', realserver: '198.51.100.2:80', severity: 'warning' },
      annotations: {
        summary: 'realserver 198.51.100.2:80 of service web is down on lb1',
        description: 'connect ECONNREFUSED (up → down, after 3 consecutive failures)',
      },
      startsAt: '2024-05-01T10:00:00.000Z',
      endsAt: '2024-05-02T10:00:00.000Z',
    }]);
  });

  it('the recovery carries the same labels, starts when the condition began and ends now (resolved)', () => {
    const firing = alertmanagerAlert(DOWN);
    const resolved = alertmanagerAlert(UP);
    expect(resolved.labels).toEqual(firing.labels);
    expect(resolved.startsAt).toBe('2024-05-01T10:00:00.000Z');
    expect(resolved.endsAt).toBe('2024-05-01T10:05:00.000Z');
    expect(resolved.annotations.summary).toBe('realserver 198.51.100.2:80 of service web is up again on lb1');
  });

  it('a recovery without `since` spans no time; a `since` after `at` is clamped', () => {
    const { since: _since, ...noSince } = UP;
    expect(alertmanagerAlert(noSince)).toMatchObject({ startsAt: UP.at, endsAt: UP.at });
    expect(alertmanagerAlert({ ...UP, since: '2024-05-01T11:00:00.000Z' })).toMatchObject({ startsAt: UP.at, endsAt: UP.at });
  });

  it('service_down is critical and fires for 24 h; service_up resolves it with the same labels', () => {
    const down: AlertEvent = { seq: 5, id: 'a', type: 'service_down', at: DOWN.at, node: 'lb1', service: 'web', detail: 'no realserver up' };
    const up: AlertEvent = { ...down, type: 'service_up', at: UP.at, since: DOWN.at, detail: '1 realserver up' };
    const f = alertmanagerAlert(down);
    expect(f.labels).toEqual({ alertname: 'LvsdServiceDown', node: 'lb1', service: 'web', severity: 'critical' });
    expect(f.endsAt).toBe('2024-05-02T10:00:00.000Z');
    const r = alertmanagerAlert(up);
    expect(r.labels).toEqual(f.labels);
    expect([r.startsAt, r.endsAt]).toEqual([DOWN.at, UP.at]);
  });

  it('one-shot events (failover, config_reload_failed, drain_started) are info and last an hour', () => {
    const failover: AlertEvent = { seq: 7, id: 'f', type: 'failover', at: DOWN.at, node: 'lb1', from: 'BACKUP', to: 'MASTER', detail: 'peer silent' };
    expect(alertmanagerAlert(failover)).toEqual({
      labels: { alertname: 'LvsdFailover', node: 'lb1', severity: 'info' },
      annotations: { summary: 'VRRP BACKUP → MASTER on lb1', description: 'peer silent (BACKUP → MASTER)' },
      startsAt: DOWN.at,
      endsAt: '2024-05-01T11:00:00.000Z',
    });
    const reload: AlertEvent = { seq: 8, id: 'r', type: 'config_reload_failed', at: DOWN.at, node: 'lb1', detail: 'lvsd.yaml:3:1: bad' };
    expect(alertmanagerAlert(reload)).toMatchObject({
      labels: { alertname: 'LvsdConfigReloadFailed', node: 'lb1', severity: 'info' },
      endsAt: '2024-05-01T11:00:00.000Z',
    });
    const drain: AlertEvent = { seq: 9, id: 'd', type: 'drain_started', at: DOWN.at, node: 'lb1', service: 'web', realserver: '198.51.100.2:80', detail: 'scheduled' };
    const started = alertmanagerAlert(drain);
    expect(started.labels).toEqual({ alertname: 'LvsdDrain', node: 'lb1', service: 'web', realserver: '198.51.100.2:80', severity: 'info' });
    expect(started.endsAt).toBe('2024-05-01T11:00:00.000Z');
    const finished = alertmanagerAlert({ ...drain, type: 'drain_finished', at: UP.at, since: DOWN.at });
    expect(finished.labels).toEqual(started.labels);
    expect([finished.startsAt, finished.endsAt]).toEqual([DOWN.at, UP.at]);
  });

  it('normalises times to RFC 3339 UTC and refuses an event whose time is not one', () => {
    expect(alertmanagerAlert({ ...DOWN, at: '2024-05-01T12:00:00+02:00' }).startsAt).toBe('2024-05-01T10:00:00.000Z');
    expect(() => renderWebhook({ ...DOWN, at: 'yesterday' }, 'alertmanager')).toThrow(AlertFormatError);
    expect(() => alertmanagerAlert({ ...UP, since: 'never' })).toThrow(/since/);
  });
});

describe('slack', () => {
  it('is one readable line: node, type, service, realserver, from→to, detail, counters', () => {
    const { body } = renderWebhook({ ...DOWN, repeat: 2 }, 'slack');
    expect(webhookPath('slack')).toBeUndefined();
    expect(JSON.parse(body)).toEqual({
      text: '[lb1] realserver_down web 198.51.100.2:80 up→down: connect ECONNREFUSED (after 3 failures, repeat 2)',
    });
  });

  it('a failover without service, and Slack markup in the detail escaped', () => {
    const text = slackText({ seq: 1, id: 'f', type: 'failover', at: DOWN.at, node: 'lb2', from: 'BACKUP', to: 'MASTER', detail: 'peer <lb1> silent & gone' });
    expect(text).toBe('[lb2] failover BACKUP→MASTER: peer &lt;lb1&gt; silent &amp; gone');
    expect(text).not.toMatch(/\n/);
  });
});
