/**
 * The composition root: from a Config to a running daemon with real collaborators
 * (probe kit, IPVS driver, node-cron, the API server). Used by `lvsd run` and `lvsd demo`.
 */
import { readFile } from 'node:fs/promises';
import { loadConfigFile } from '../config/load.js';
import { MIN_TOKEN_LENGTH } from '../config/references.js';
import { lvsdVersion } from './version.js';
import { FileOverrideStore } from '../daemon/overrides.js';
import { formatPlan, type ReloadPlan } from '../daemon/reload-plan.js';
import { createProbeKit } from '../../checks/index.js';
import type { Config } from '../config/types.js';
import { systemClock } from '../core/clock.js';
import { useCompactHeap } from '../core/heap.js';
import { ConfigError, LvsError, errorMessage, formatProblem } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { Daemon, type DaemonEvent } from '../daemon/daemon.js';
import { IpvsadmDriver, permanentFailure, type IpvsadmCall } from '../ipvs/ipvsadm-driver.js';
import { SyncDaemon } from '../ipvs/sync-daemon.js';
import { MemoryIpvsDriver } from '../ipvs/memory-driver.js';
import type { IpvsDriver } from '../ipvs/types.js';
import { startApi, type ApiServer } from '../api/server.js';
import type { FailoverConfig } from '../config/types.js';
import type { VrrpStatus } from '../daemon/status.js';
import { AlertSystem } from '../alerts/manager.js';
import { IpvsCommandMetrics } from '../metrics/ipvs-metrics.js';
import { registerVrrpMetrics } from '../metrics/vrrp-metrics.js';
import { IpAddressManager } from '../vrrp/addresses.js';
import { VrrpInstance } from '../vrrp/instance.js';
import { NotifyQueue } from '../vrrp/notify.js';
import { Tracker } from '../vrrp/tracker.js';
import { RawVrrpTransport } from '../vrrp/transport.js';
import { nodeCronStarter } from './cron.js';

export type ReloadResult =
  | { readonly ok: true; readonly plan: ReloadPlan; readonly text: string }
  | { readonly ok: false; readonly errors: readonly string[] };

export interface Runtime {
  readonly daemon: Daemon;
  readonly api: ApiServer;
  readonly driver: IpvsDriver;
  /** read the config file again and apply it as a diff (or only plan it); a bad file changes nothing */
  reload(dryRun: boolean): Promise<ReloadResult>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  readonly log: Logger;
  /** use this driver instead of the one the config names (the demo passes its own memory driver) */
  readonly driver?: IpvsDriver;
  /** the file the config came from: what a reload reads */
  readonly configFile?: string;
}

/** api.token_file's token; a configured file that cannot be read stops the start */
async function readToken(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  let token: string;
  try {
    token = (await readFile(file, 'utf8')).trim();
  } catch (e) {
    throw new LvsError('LVSD_ERR_API_TOKEN', `api.token_file ${file}: cannot read: ${errorMessage(e)}`, { file });
  }
  if (token.length < MIN_TOKEN_LENGTH) throw new LvsError('LVSD_ERR_API_TOKEN', `api.token_file ${file}: the token must have at least ${MIN_TOKEN_LENGTH} characters`, { file });
  return token;
}

export function driverFor(config: Config, log: Logger, onCall?: (call: IpvsadmCall) => void): IpvsDriver {
  switch (config.ipvs.driver) {
    case 'memory':
      return new MemoryIpvsDriver({ onChange: (command) => log.debug({ command }, 'memory ipvs change') });
    case 'ipvsadm':
      return new IpvsadmDriver({ timeoutMs: config.ipvs.commandTimeoutMs, ...(onCall ? { onCall } : {}) });
  }
}

/**
 * Start-up check: a driver that cannot read the table for a reason retrying will not fix
 * (ipvsadm missing or not executable, no IPVS in the kernel, no CAP_NET_ADMIN) stops `lvsd run`
 * with the reason, instead of a daemon that only logs errors. A failure that may pass (an error
 * exit, a hang killed at ipvs.command_timeout) is logged and the daemon starts: it reports
 * lvsd_ipvs_in_sync 0 and the reconciler retries with backoff until the table converges.
 */
async function checkDriver(driver: IpvsDriver, log: Logger): Promise<void> {
  try {
    await driver.read();
  } catch (e) {
    if (driver instanceof IpvsadmDriver && !permanentFailure(e)) {
      log.error({ err: errorMessage(e) }, 'ipvsadm failed at start-up: starting anyway, retrying with backoff (lvsd_ipvs_in_sync stays 0 until the table converges)');
      return;
    }
    throw new LvsError('LVSD_ERR_IPVS_DRIVER', `the ${driver.name} IPVS driver cannot read the table: ${errorMessage(e)}`, {}, { cause: e });
  }
}

export async function startRuntime(config: Config, options: RuntimeOptions): Promise<Runtime> {
  const { log } = options;
  useCompactHeap();
  // per-call metrics of ipvsadm: counted from the start-up read on, registered with the daemon's registry below
  const commands = options.driver ? undefined : new IpvsCommandMetrics();
  const driver = options.driver ?? driverFor(config, log, commands && ((call) => commands.observe(call)));
  await checkDriver(driver, log);
  const token = await readToken(config.api.tokenFile);
  const probes = createProbeKit({ warn: (message) => log.warn(message) });
  const daemon = new Daemon({
    config, clock: systemClock, random: Math.random, log, probes, driver,
    cron: nodeCronStarter(log.child({ component: 'cron' })), version: lvsdVersion(),
    overrides: new FileOverrideStore(config.stateDir, log.child({ component: 'overrides' })),
  });
  if (driver instanceof IpvsadmDriver) commands?.register(daemon.metrics.registry);
  let alerts: AlertSystem | undefined;
  const m = daemon.metrics;
  const startAlerts = async (list: Config['alerts'], previous?: AlertSystem): Promise<AlertSystem | undefined> => {
    if (list.length === 0) return undefined;
    const a = await AlertSystem.start({
      alerts: list, node: config.node.name, stateDir: config.stateDir, clock: systemClock, random: Math.random,
      ...(previous ? { previous } : {}),
      log: log.child({ component: 'alerts' }),
      observer: {
        sent: (target) => m.alertsSent.inc({ target, result: 'sent' }),
        failed: (target) => m.alertsSent.inc({ target, result: 'failed' }),
        rejected: (target) => m.alertsSent.inc({ target, result: 'rejected' }),
        dropped: (target) => m.alertsSent.inc({ target, result: 'dropped' }),
        suppressed: (target) => m.alertsSent.inc({ target, result: 'suppressed' }),
      },
    });
    m.setAlertQueues(() => a.queues());
    return a;
  };
  alerts = await startAlerts(config.alerts);
  /** the alert targets running now: what a reload whose new ones fail to start goes back to */
  let alertList = config.alerts;
  /** events that arrive while a reload swaps the alert system: handed to the new one, in order */
  let held: DaemonEvent[] | undefined;
  daemon.onEvent((e) => {
    if (held) held.push(e);
    else alerts?.handle(e);
  });
  /** one reload at a time: SIGHUP, `lvsd reload` and the API may race */
  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (dryRun: boolean): Promise<ReloadResult> => {
    const run = reloading.then(async (): Promise<ReloadResult> => {
      if (!options.configFile) return { ok: false, errors: ['this daemon was not started from a config file: nothing to reload'] };
      let next: Config;
      try {
        next = await loadConfigFile(options.configFile);
      } catch (e) {
        const errors = e instanceof ConfigError ? e.problems.map(formatProblem) : [errorMessage(e)];
        if (!dryRun) daemon.reloadFailed(errors.join('; '));
        return { ok: false, errors };
      }
      const plan = daemon.reload(next, { dryRun });
      if (!dryRun) await daemon.reconcileNow();
      if (!dryRun && plan.alertsChanged) {
        // queues stay on disk across the swap, events meanwhile are held: nothing is lost
        const old = alerts;
        held = [];
        try {
          await old?.close();
          alerts = undefined;
          try {
            alerts = await startAlerts(next.alerts, old);
            alertList = next.alerts;
          } catch (e) {
            // the files were checked at load; one that changed since must not leave no alerts at all
            const error = `alerts: ${errorMessage(e)}; the previous alert targets stay in use, the rest of the reload applied`;
            log.error({ err: error }, 'reload: the new alert targets could not start');
            daemon.reloadFailed(error);
            alerts = await startAlerts(alertList, old).catch((e2: unknown) => {
              log.error({ err: errorMessage(e2) }, 'the previous alert targets could not start again: alerts are off until the next reload');
              return undefined;
            });
            return { ok: false, errors: [error] };
          }
        } finally {
          const events = held;
          held = undefined;
          for (const e of events) alerts?.handle(e);
        }
      }
      return { ok: true, plan, text: formatPlan(plan) };
    });
    reloading = run.catch(() => undefined);
    return run;
  };
  let api: ApiServer;
  let vrrpStatus: (() => VrrpStatus) | undefined;
  let stopTracker: (() => void) | undefined;
  let stopNotify: (() => Promise<void>) | undefined;
  let stopSync: (() => Promise<void>) | undefined;
  /** VRRP for `failover:`: raw socket, VIPs, tracking of the services named in failover.track */
  const startFailover = async (f: FailoverConfig, d: Daemon, vlog: Logger): Promise<VrrpInstance> => {
    const multicast = f.unicastPeers.length === 0;
    const notify = new NotifyQueue(f.notify, `VI_${f.vrid}`, vlog);
    const sync = f.syncDaemon && new SyncDaemon({ interface: f.syncDaemon.interface, syncId: f.syncDaemon.syncId, log: vlog });
    stopSync = () => sync?.follow('init') ?? Promise.resolve();
    stopNotify = () => notify.drain();
    const metricsObserver = registerVrrpMetrics(d.metrics.registry, f.vrid, () => ({ state: instance.state, priority: instance.priority }));
    const instance: VrrpInstance = new VrrpInstance({
      settings: {
        vrid: f.vrid, priority: f.priority, version: f.version, intervalMs: f.advertIntervalMs, preempt: f.preempt,
        preemptDelayMs: f.preemptDelayMs, unicastPeers: f.unicastPeers, virtualAddresses: f.virtualAddresses,
      },
      transport: new RawVrrpTransport({ interface: f.interface, multicast }),
      addresses: new IpAddressManager({ interface: f.interface, addresses: f.virtualAddresses, log: vlog, garpRepeatDelayMs: f.garpRepeatDelayMs }),
      clock: systemClock, log: vlog,
      observer: {
        ...metricsObserver,
        transition: (from, to, reason) => {
          metricsObserver.transition?.(from, to, reason);
          void sync?.follow(to);
          notify.changed(to, instance.priority);
          d.publish({ type: 'vrrp', from, to, reason, at: Date.now(), priority: instance.priority });
        },
      },
    });
    vrrpStatus = () => ({
      state: instance.state.toUpperCase(), vrid: f.vrid, priority: instance.priority, configured_priority: f.priority,
      interface: f.interface, address: instance.self ?? null, virtual_addresses: f.virtualAddresses,
    });
    const tracker = new Tracker({
      base: f.priority, track: f.track, serviceDown: (name) => d.serviceDown(name), log: vlog,
      onPriority: (p) => instance.setTrackedPriority(p),
    });
    d.onEvent((e) => { if (e.type === 'transition') tracker.changed(); });
    stopTracker = () => tracker.stop();
    await instance.start();
    tracker.start();
    return instance;
  };
  try {
    api = await startApi({
      status: () => ({ ...daemon.status(), vrrp: vrrpStatus?.() ?? null }),
      metrics: () => daemon.metrics.text(),
      metricsContentType: daemon.metrics.contentType,
      control: {
        setAdmin: (svc, rs, state, o) => daemon.setAdmin(svc, rs, state, o),
        setWeight: (svc, rs, w, reason) => daemon.setWeight(svc, rs, w, reason),
        checkNow: (svc, rs) => daemon.checkNow(svc, rs),
        activeConnections: (svc, rs) => daemon.activeConnections(svc, rs),
        realserver: (svc, rs) => daemon.realserverStatus(svc, rs),
        settle: () => daemon.reconcileNow(),
        reload,
      },
    }, { listen: config.api.listen, socket: config.api.socket, log: log.child({ component: 'api' }), ...(token !== undefined ? { token } : {}) });
  } catch (e) {
    await alerts?.close();
    await probes.close();
    await driver.close();
    throw e;
  }
  await daemon.start();
  log.info({ listen: api.address, socket: api.socket }, 'api listening');
  let vrrp: VrrpInstance | undefined;
  if (config.failover) {
    try {
      vrrp = await startFailover(config.failover, daemon, log.child({ component: 'vrrp' }));
    } catch (e) {
      await api.close();
      await daemon.close();
      await alerts?.close();
      await probes.close();
      await driver.close();
      throw e;
    }
  }
  let closing: Promise<void> | undefined;
  return {
    daemon, api, driver, reload,
    close() {
      closing ??= (async () => {
        // hand the VIPs over first (priority 0: the backup takes over after its skew time)
        stopTracker?.();
        await vrrp?.stop();
        await stopNotify?.(); // the stop hook runs before lvsd exits
        await stopSync?.();
        await api.close();
        await daemon.close();
        // a moment to deliver the last alerts (the failover to STOP); the rest waits in state_dir
        await alerts?.close(2000);
        await probes.close();
        await driver.close();
      })();
      return closing;
    },
  };
}
