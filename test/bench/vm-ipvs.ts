/**
 * The IPVS benchmark, run inside the VM (emulated CPU: figures are slow by a large factor):
 * decision → kernel latency with the ipvsadm driver, and 10,000 realserver changes in one
 * `ipvsadm -R` batch, in a full reconcile pass, and one ipvsadm call per change.
 *
 *   node dist/test/bench/vm-ipvs.js OUT.json
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { systemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/log.js';
import { IpvsadmDriver } from '../../src/ipvs/ipvsadm-driver.js';
import { Reconciler } from '../../src/ipvs/reconciler.js';
import { endpointKey, serviceKey, type Destination, type IpvsOp, type VirtualService, type WantedTable } from '../../src/ipvs/types.js';
import { decisionLatency } from './decision-latency.js';

const out = process.argv[2] ?? '/dev/stdout';
const N = 10_000;
const PER_CALL_SAMPLE = 200;

const svc: VirtualService = { protocol: 'tcp', endpoint: { host: '192.0.2.20', port: 80 }, scheduler: 'wlc' };
const dest = (i: number, weight: number): Destination => ({
  endpoint: { host: `198.51.100.${(i % 250) + 1}`, port: 8000 + Math.floor(i / 250) }, forward: 'masq', weight, upperThreshold: 0, lowerThreshold: 0,
});

const driver = new IpvsadmDriver();

const LAT_N = 30;
execFileSync('ip', ['link', 'add', 'bench0', 'type', 'dummy']);
execFileSync('ip', ['link', 'set', 'bench0', 'up']);
for (let i = 0; i < LAT_N; i++) execFileSync('ip', ['addr', 'add', `198.51.100.${101 + i}/32`, 'dev', 'bench0']);
// probes are slow under emulation: a wider timeout (it does not enter the measured span)
const latency = await decisionLatency(driver, LAT_N, (i) => `198.51.100.${101 + i}`, { interval: '1s', timeout: '900ms' });
execFileSync('ipvsadm', ['-C']);

// one batch: add 10,000 destinations
await driver.apply([{ op: 'add-service', service: svc }]);
let t0 = performance.now();
const addResult = await driver.apply(Array.from({ length: N }, (_, i): IpvsOp => ({ op: 'add-dest', service: svc, dest: dest(i, 1) })));
const batchAddMs = performance.now() - t0;
const held = (await driver.read()).services.get(serviceKey(svc))?.destinations.size ?? 0;

// a reconcile pass that changes all 10,000 weights: read, plan, one -R, read again to verify
const wanted: WantedTable = {
  services: new Map([[serviceKey(svc), { service: svc, destinations: new Map(Array.from({ length: N }, (_, i) => [endpointKey(dest(i, 2).endpoint), dest(i, 2)])) }]]),
};
const reconciler = new Reconciler({ driver, wanted: () => wanted, clock: systemClock, log: silentLogger(), resyncIntervalMs: 0 });
t0 = performance.now();
await reconciler.runNow();
const passMs = performance.now() - t0;
const pass = reconciler.lastReport;
await reconciler.close();

// one ipvsadm call per change, on a sample
t0 = performance.now();
for (let i = 0; i < PER_CALL_SAMPLE; i++) await driver.apply([{ op: 'edit-dest', service: svc, dest: dest(i, 3) }]);
const perCallMs = (performance.now() - t0) / PER_CALL_SAMPLE;
execFileSync('ipvsadm', ['-C']);

// what one process start costs here: the host measures the same, for the emulation factor
t0 = performance.now();
for (let i = 0; i < 20; i++) spawnSync('ipvsadm', ['--version'], { stdio: 'ignore' });
const execMs = (performance.now() - t0) / 20;

writeFileSync(out, `${JSON.stringify({
  latency,
  changes: N,
  batchAddMs, batchErrors: addResult.errors ?? [], destinationsInKernel: held,
  reconcilePassMs: passMs, reconcileApplied: pass?.applied.length ?? 0, reconcileConverged: pass?.converged ?? false,
  perCallMs, perCallSample: PER_CALL_SAMPLE, perCallExtrapolatedMs: perCallMs * N, execMs,
}, null, 2)}\n`);
