import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createProbeKit } from '../../checks/index.js';
import { deadline, local } from '../support/probes.js';
import type { TestServer } from '../support/servers.js';
import { refusedPort, startBanner, startSilentTcp } from '../support/servers.js';

const kit = createProbeKit({ fpingPath: null });
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => kit.close());

async function serve<T extends TestServer>(p: Promise<T>): Promise<T> {
  const s = await p;
  servers.push(s);
  return s;
}

describe('banner probe', () => {
  const login = kit.probeFor({ type: 'banner', expect: 'login:' });

  it('passes on a telnet login prompt', async () => {
    const s = await serve(startBanner('\r\nDebian GNU/Linux 12\r\nhost login: '));
    const r = await login.check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ ok: true, outcome: 'ok' });
    expect(r.detail).toContain('banner matched /login:/');
  });

  it('fails on the wrong prompt once the peer hangs up, showing what came', async () => {
    const s = await serve(startBanner('Password: ', { close: true }));
    const r = await login.check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ ok: false, outcome: 'fail', detail: 'banner did not match /login:/: got "Password: "' });
  });

  it('times out on the wrong prompt from a peer that stays open, naming what it got', async () => {
    const s = await serve(startBanner('Password: '));
    const r = await login.check(local(s.port), deadline(300));
    expect(r.outcome).toBe('timeout');
    expect(r.detail).toBe('timeout after 300ms waiting for banner matching /login:/ (got "Password: ")');
    expect(r.durationMs).toBeLessThan(300 + 1000);
  });

  it('matches a banner that arrives in pieces', async () => {
    const s = await serve(startBanner(['host lo', 'gin', ': '], { delayMs: 30 }));
    const r = await login.check(local(s.port), deadline(2000));
    expect(r.outcome).toBe('ok');
  });

  it('accepts any bytes when nothing is expected (SSH version line)', async () => {
    const s = await serve(startBanner('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'));
    const r = await kit.probeFor({ type: 'banner' }).check(local(s.port), deadline(1000));
    expect(r.outcome).toBe('ok');
    expect(r.detail).toBe('banner "SSH-2.0-OpenSSH_9.2p1 Debian-2\\r\\n"');
  });

  it('writes `send` after connecting (SMTP-style exchange)', async () => {
    const s = await serve(startBanner('220 mail.example ESMTP\r\n'));
    const r = await kit.probeFor({ type: 'banner', send: 'QUIT\r\n', expect: '^220 ' }).check(local(s.port), deadline(1000));
    expect(r.outcome).toBe('ok');
    await new Promise((res) => setTimeout(res, 50));
    expect(s.received).toBe('QUIT\r\n');
  });

  it('times out against a silent server', async () => {
    const s = await serve(startSilentTcp());
    const r = await login.check(local(s.port), deadline(200));
    expect(r).toMatchObject({ outcome: 'timeout', detail: 'timeout after 200ms waiting for banner matching /login:/' });
    expect(r.durationMs).toBeLessThan(200 + 1000);
  });

  it('fails when the peer hangs up without a word', async () => {
    const s = await serve(startBanner('', { close: true }));
    const r = await login.check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ outcome: 'fail', detail: 'connection closed before any banner' });
  });

  it('escapes binary garbage in the detail', async () => {
    const s = await serve(startBanner('\u0000\u00ff\u0007x', { close: true }));
    const r = await login.check(local(s.port), deadline(1000));
    expect(r.detail).toBe('banner did not match /login:/: got "\\u0000\\xff\\u0007x"');
  });

  it('gives up after 4 KiB without a match', async () => {
    const s = await serve(startBanner('x'.repeat(5000)));
    const r = await login.check(local(s.port), deadline(2000));
    expect(r.outcome).toBe('fail');
    expect(r.detail).toMatch(/^banner did not match \/login:\/ in 4096 bytes: got "x{40}…"$/);
  });

  it('reports refused as error', async () => {
    const s = await refusedPort();
    const r = await login.check(local(s.port), deadline(1000));
    expect(r).toMatchObject({ outcome: 'error', detail: 'connect ECONNREFUSED' });
  });

  it('turns an invalid regex into an error result, not a throw', async () => {
    const r = await kit.probeFor({ type: 'banner', expect: '(' }).check(local(1), deadline(500));
    expect(r.outcome).toBe('error');
    expect(r.detail).toContain('invalid regex /(/');
  });
});
