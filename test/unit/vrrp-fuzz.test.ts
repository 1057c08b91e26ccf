/**
 * The VRRP fuzz in CI: 100,000 cases of test/fuzz/vrrp-fuzz.ts (the same runVrrpFuzz() the
 * script runs for its million), from a fixed seed so a failure here reproduces with
 * `node --import tsx test/fuzz/vrrp-fuzz.ts --seed <seed> --cases <case + 1>`.
 * LVSD_FUZZ_SEED picks another seed, LVSD_FUZZ_CASES another count.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REJECT_REASONS } from '../../src/vrrp/packet.js';
import { ROOT } from '../support/cli.js';
import { Rng, codecCase, checkCodecCase, formatReport, runVrrpFuzz } from '../fuzz/vrrp-fuzz.js';

const SEED = Number(process.env.LVSD_FUZZ_SEED ?? 0x5eed);
const CASES = Number(process.env.LVSD_FUZZ_CASES ?? 100_000);
const SCRIPT = fileURLToPath(new URL('../fuzz/vrrp-fuzz.ts', import.meta.url));

describe('VRRP fuzz', () => {
  it(`${CASES} cases from seed ${SEED}: no failure, and every reason and stimulus reached`, { timeout: 180_000 }, async () => {
    const r = await runVrrpFuzz({ cases: CASES, seed: SEED });
    const text = formatReport(r);
    expect(r.failures, text).toEqual([]);
    expect(r.cases).toBe(CASES);
    // the codec cases reach every verdict, and the worlds every kind of stimulus and transition
    for (const v of ['accepted', ...REJECT_REASONS]) expect(r.codecVerdicts[v] ?? 0, `codec verdict ${v}\n${text}`).toBeGreaterThan(0);
    for (const v of ['ttl', 'checksum', 'version', 'addresses', 'interval']) expect(r.instanceRejected[v] ?? 0, `counted by an instance: ${v}`).toBeGreaterThan(0);
    for (const s of ['hostile_advert', 'malformed_packet', 'flood', 'time', 'link', 'partition', 'priority', 'send_failure', 'restart', 'checkpoint']) {
      expect(r.stimuli[s] ?? 0, `stimulus ${s}`).toBeGreaterThan(0);
    }
    for (const t of ['init->backup', 'init->fault', 'backup->master', 'master->backup', 'master->fault', 'backup->fault', 'fault->backup', 'master->init']) {
      expect(r.transitions[t] ?? 0, `transition ${t}`).toBeGreaterThan(0);
    }
    expect(r.checkpoints).toBeGreaterThan(50);
    expect(r.honestDeliveries).toBeGreaterThan(5000);
    console.log(`vrrp fuzz: ${r.cases} cases in ${(r.elapsedMs / 1000).toFixed(1)} s (${r.casesPerSecond}/s), ${r.worlds} worlds, ${r.checkpoints} checkpoints`);
  });

  it('the oracle agrees with what each targeted packet was built to be (it checks itself as it goes)', () => {
    const rng = new Rng(7);
    const kinds = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const c = codecCase(rng);
      if (!c.expect) continue;
      kinds.add(c.kind);
      expect(checkCodecCase(c).failure, c.kind).toBeUndefined();
    }
    for (const k of ['valid', 'valid_old_checksum', 'valid_ip_options', 'valid_padded', 'ttl', 'ipv6', 'bad_checksum', 'v2_auth_password', 'v2_auth_ah', 'count_high', 'count_low']) {
      expect(kinds.has(k), k).toBe(true);
    }
  });

  it('the script prints cases/s and the rejection tally and exits 0', { timeout: 60_000 }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', SCRIPT, '--cases', '3000', '--seed', '9'], { cwd: ROOT });
    expect(stdout).toMatch(/^seed 9: 3000 cases in [\d.]+ s, \d+ cases\/s$/m);
    expect(stdout).toMatch(/^codec verdicts/m);
    expect(stdout).toMatch(/^instances: packets counted as rejected, by reason:$/m);
    expect(stdout).toMatch(/^no failures$/m);
  });

  it('the script refuses a bad argument with exit 2', async () => {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', SCRIPT, '--cases', 'many'], { cwd: ROOT }).catch((e: { code: number; stderr: string }) => e);
    expect(r).toMatchObject({ code: 2 });
  });
});
