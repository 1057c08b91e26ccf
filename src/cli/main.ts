#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * `lvsd`: one binary, subcommands. The only module that touches process.argv, process.exit,
 * signals and the terminal.
 */
import { Command, Option } from 'commander';
import type { Config } from '../config/types.js';
import { ConfigError, LvsError, errorMessage, formatProblem } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { StatusSnapshot } from '../daemon/status.js';
import { tryParseDuration } from '../config/duration.js';
import { readFile } from 'node:fs/promises';
import { apiGet, apiPost, type ApiTarget } from './client.js';
import { useCompactHeap } from '../core/heap.js';
// the daemon, the demo and VRRP load only for the commands that run them: a client command starts fast
import { lvsdVersion } from './version.js';
import { formatStatusTable } from './status-table.js';

const DEFAULT_SOCKET = '/run/lvsd/lvsd.sock';

/** exit codes: 0 ok, 1 refused / invalid, 2 usage, 3 daemon unreachable, 4 drain --wait timed out */
const EXIT_INVALID = 1;
const EXIT_UNREACHABLE = 3;

class CliExit extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** `checkFiles`: also check the files and programs the config names (validate, run; not a client's lookup) */
async function readConfig(file: string, checkFiles: boolean): Promise<Config> {
  const { loadConfigFile } = await import('../config/load.js');
  try {
    return await loadConfigFile(file, { checkFiles });
  } catch (e) {
    if (e instanceof ConfigError) throw new CliExit(e.problems.map(formatProblem).join('\n'), EXIT_INVALID);
    throw e;
  }
}

async function resolveTarget(opts: { socket?: string; url?: string; config?: string }): Promise<ApiTarget> {
  if (opts.url) return { url: opts.url };
  if (opts.socket) return { socket: opts.socket };
  if (opts.config) {
    const c = await readConfig(opts.config, false);
    if (c.api.socket) return { socket: c.api.socket };
    if (c.api.listen) return { url: `http://${c.api.listen.host.includes(':') ? `[${c.api.listen.host}]` : c.api.listen.host}:${c.api.listen.port}` };
    throw new CliExit(`${opts.config}: api.socket and api.listen are both off: nothing to connect to`, EXIT_INVALID);
  }
  return { socket: DEFAULT_SOCKET };
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

interface TargetOptions { socket?: string; url?: string; config?: string; tokenFile?: string }

/** exit code of a write the daemon answered with an error (drain --wait that timed out: 4) */
const EXIT_TIMEOUT = 4;

/** POST to the daemon; prints nothing, returns the JSON answer; errors become one line and an exit code */
async function post(opts: TargetOptions, path: string, payload: unknown, timeoutMs = 10_000): Promise<unknown> {
  const target = await resolveTarget(opts);
  let token: string | undefined;
  if (opts.tokenFile) {
    try {
      token = (await readFile(opts.tokenFile, 'utf8')).trim();
    } catch (e) {
      throw new CliExit(`--token-file ${opts.tokenFile}: ${errorMessage(e)}`, EXIT_INVALID);
    }
  }
  let res;
  try {
    res = await apiPost(target, path, payload, timeoutMs, token);
  } catch (e) {
    throw new CliExit(errorMessage(e), EXIT_UNREACHABLE);
  }
  let body: { error?: string; errors?: string[] } & Record<string, unknown>;
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch {
    throw new CliExit(`lvsd answered HTTP ${res.status}: ${res.body.trim().slice(0, 200)}`, EXIT_INVALID);
  }
  if (res.status === 200) return body;
  if (body.errors) throw new CliExit(`lvsd refused the config, nothing changed:\n${body.errors.join('\n')}`, EXIT_INVALID);
  throw new CliExit(`lvsd refused: ${body.error ?? `HTTP ${res.status}`}`, res.status === 504 ? EXIT_TIMEOUT : EXIT_INVALID);
}

/** a duration given on the command line, checked here so the error is the CLI's */
function checkDuration(v: string): string {
  durationOption(v);
  return v;
}

function durationOption(v: string): number {
  const r = tryParseDuration(v);
  if ('error' in r) throw new CliExit(r.error, 2);
  return r.ms;
}

export function buildProgram(): Command {
  const program = new Command()
    .name('lvsd')
    .description('Health checks and failover for Linux Virtual Server directors')
    .version(lvsdVersion())
    .exitOverride()
    .showHelpAfterError();

  program.command('run')
    .description('run the daemon in the foreground (JSON logs on stdout)')
    .requiredOption('-c, --config <file>', 'config file')
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .action(async (opts: { config: string; logLevel: string }) => {
      useCompactHeap(); // before the config parse: a big config is the first heap peak
      const config = await readConfig(opts.config, true);
      const log = createLogger(opts.logLevel);
      // a bug in one corner must not take the director's health checks down: log it, keep going
      process.on('unhandledRejection', (reason) => log.error({ err: errorMessage(reason) }, 'unhandled rejection'));
      const { startRuntime } = await import('./runtime.js');
      const rt = await startRuntime(config, { log, configFile: opts.config });
      // systemctl reload: the same reload as `lvsd reload` (a bad file is logged and changes nothing)
      process.on('SIGHUP', () => {
        log.info({ signal: 'SIGHUP' }, 'reloading the config');
        void rt.reload(false).then((r) => {
          if (!r.ok) log.error({ errors: r.errors }, 'SIGHUP reload refused');
        });
      });
      const sig = await waitForSignal();
      log.info({ signal: sig }, 'stopping');
      await rt.close();
    });

  program.command('validate')
    .description('check a config file and the files and programs it names; prints FILE:LINE:COL: message for every error')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--no-files', 'check only the config text, not the token, secret, program and state_dir paths it names (e.g. on a build machine)')
    .action(async (opts: { config: string; files: boolean }) => {
      const config = await readConfig(opts.config, opts.files);
      const rs = config.services.reduce((n, s) => n + s.realservers.length, 0);
      process.stdout.write(`${opts.config}: ok (${config.services.length} services, ${rs} realservers)\n`);
    });

  program.command('status')
    .description('services, realservers, state, weight and last probe of a running daemon')
    .option('--json', 'print the status as JSON')
    .option('--socket <path>', `API Unix socket (default: api.socket of -c, else ${DEFAULT_SOCKET})`)
    .option('--url <url>', 'API over TCP, e.g. http://127.0.0.1:9410')
    .option('-c, --config <file>', 'take the API address from this config')
    .action(async (opts: { json?: boolean; socket?: string; url?: string; config?: string }) => {
      const target = await resolveTarget(opts);
      let res;
      try {
        res = await apiGet(target, '/status');
      } catch (e) {
        throw new CliExit(errorMessage(e), EXIT_UNREACHABLE);
      }
      if (res.status !== 200) throw new CliExit(`lvsd refused: HTTP ${res.status}: ${res.body.trim().slice(0, 200)}`, EXIT_INVALID);
      if (opts.json) {
        process.stdout.write(res.body.endsWith('\n') ? res.body : `${res.body}\n`);
        return;
      }
      process.stdout.write(`${formatStatusTable(JSON.parse(res.body) as StatusSnapshot)}\n`);
    });

  const addTarget = (c: Command): Command => c
    .option('--socket <path>', `API Unix socket (default: api.socket of -c, else ${DEFAULT_SOCKET})`)
    .option('--url <url>', 'API over TCP, e.g. http://127.0.0.1:9410 (writes need --token-file)')
    .option('--token-file <file>', 'bearer token for writes over TCP (the daemon\'s api.token_file)')
    .option('-c, --config <file>', 'take the API address from this config');

  const realserverCommand = (name: string, description: string, build: (c: Command) => Command, body: (opts: Record<string, unknown>, args: string[]) => { path: string; payload: Record<string, unknown>; timeoutMs?: number | undefined }) => {
    const c = addTarget(build(program.command(name).description(description)
      .argument('<service>', 'service name').argument('<realserver>', 'realserver "ip:port" as in the config')));
    c.action(async (...argv: unknown[]) => {
      const cmd = argv.at(-1) as Command;
      const args = cmd.args;
      const opts = cmd.opts<TargetOptions & Record<string, unknown>>();
      const { path, payload, timeoutMs } = body(opts, args);
      const res = await post(opts, `/api/v1/services/${encodeURIComponent(args[0]!)}/realservers/${encodeURIComponent(args[1]!)}/${path}`, payload, timeoutMs);
      const rs = (res as { realserver?: { id: string; state: string; weight: number | null; configured_weight: number; weight_override: number | null } }).realserver;
      if (rs) process.stdout.write(`${args[0]} ${rs.id}: ${rs.state}, weight ${rs.weight ?? 'out'}${rs.weight_override !== null ? ` (override ${rs.weight_override}, config ${rs.configured_weight})` : ''}\n`);
    });
  };

  realserverCommand('drain', 'weight 0: connections carry on, new ones go elsewhere (kept across restarts)',
    (c) => c.option('--for <duration>', 'undrain by itself after this long').option('--wait', 'return when its active connections reach 0')
      .option('--timeout <duration>', 'with --wait: give up after this long (exit 4)', '5m').option('--reason <text>', 'why (logged, in alerts)'),
    (o) => ({
      path: 'drain', timeoutMs: o.wait ? durationOption(String(o.timeout)) + 10_000 : undefined,
      payload: { ...(o.for ? { for: checkDuration(String(o.for)) } : {}), ...(o.wait ? { wait: true, timeout: checkDuration(String(o.timeout)) } : {}), ...(o.reason ? { reason: o.reason } : {}) },
    }));
  realserverCommand('maint', 'take out of the IPVS table (maintenance; kept across restarts)',
    (c) => c.option('--for <duration>', 'back by itself after this long').option('--reason <text>', 'why (logged)'),
    (o) => ({ path: 'maint', payload: { ...(o.for ? { for: checkDuration(String(o.for)) } : {}), ...(o.reason ? { reason: o.reason } : {}) } }));
  realserverCommand('ready', 'end a drain or maintenance: back to what its checks say (alias: undrain)',
    (c) => c.alias('undrain').option('--reason <text>', 'why (logged)'),
    (o) => ({ path: 'ready', payload: o.reason ? { reason: o.reason } : {} }));
  realserverCommand('weight', 'set a weight in place of the configured one; "reset" goes back to the config',
    (c) => c.argument('<weight>', '0..65535, or reset'),
    (_o, args) => {
      const w = args[2]!;
      if (w !== 'reset' && !/^\d{1,5}$/.test(w)) throw new CliExit(`weight must be 0..65535 or reset, got ${JSON.stringify(w)}`, 2);
      return { path: 'weight', payload: { weight: w === 'reset' ? null : Number(w) } };
    });
  realserverCommand('check', 'probe it now, outside its schedule', (c) => c, () => ({ path: 'check', payload: {} }));

  addTarget(program.command('reload')
    .description('re-read the config file of the running daemon and apply the difference (a bad file changes nothing)')
    .option('--dry-run', 'print what would change, change nothing'))
    .action(async (opts: TargetOptions & { dryRun?: boolean }) => {
      const res = await post(opts, '/api/v1/reload', { dry_run: opts.dryRun === true }, 60_000) as { text?: string; dry_run?: boolean };
      process.stdout.write(`${res.dry_run ? 'would change (dry run):' : 'reloaded:'}\n${res.text ?? ''}\n`);
    });

  program.command('release')
    .description('remove the failover VIPs from their interface (systemd ExecStopPost: after a crash no VIP may stay behind)')
    .requiredOption('-c, --config <file>', 'config file')
    .action(async (opts: { config: string }) => {
      const config = await readConfig(opts.config, false);
      const f = config.failover;
      if (!f) {
        process.stdout.write(`${opts.config}: no failover section: nothing to release\n`);
        return;
      }
      const log = createLogger('warn', process.stderr);
      const { IpAddressManager } = await import('../vrrp/addresses.js');
      const addresses = new IpAddressManager({ interface: f.interface, addresses: f.virtualAddresses, log });
      await addresses.remove();
      addresses.close();
      process.stdout.write(`released ${f.virtualAddresses.join(' ')} on ${f.interface}\n`);
    });

  program.command('demo')
    .description('run lvsd on four loopback HTTP realservers (one flapping) with the in-memory IPVS table')
    .option('--listen <host:port>', 'API and status page address', '127.0.0.1:9410')
    .option('--flap <duration>', 'how long the flapping realserver stays healthy, then unhealthy', '20s')
    .option('--exit-after <duration>', 'stop by itself after this long (for scripted runs)')
    .option('--print-config', 'print the generated config and exit')
    .addOption(new Option('--log-level <level>', 'daemon log level (logs go to stderr)').choices(['debug', 'info', 'warn', 'error']).default('warn'))
    .action(async (opts: { listen: string; flap: string; exitAfter?: string; printConfig?: boolean; logLevel: string }) => {
      const log = createLogger(opts.logLevel, process.stderr);
      const { startDemo } = await import('../demo/demo.js');
      const demo = await startDemo({ listen: opts.listen, realserverPort: 18080, flapMs: durationOption(opts.flap), out: process.stdout, log });
      if (opts.printConfig) {
        process.stdout.write(demo.configText);
        await demo.close();
        return;
      }
      const stop = opts.exitAfter
        ? Promise.race([waitForSignal(), new Promise<string>((r) => setTimeout(() => r('exit-after'), durationOption(opts.exitAfter!)))])
        : waitForSignal();
      await stop;
      await demo.close();
      process.stdout.write('lvsd demo stopped\n');
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
      // commander already printed help, version or the usage error
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : (err.exitCode ?? 2);
    }
    if (e instanceof CliExit) {
      process.stderr.write(`${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof LvsError) {
      process.stderr.write(`lvsd: ${e.message}\n`);
      return EXIT_INVALID;
    }
    process.stderr.write(`lvsd: unexpected error: ${errorMessage(e)}\n`);
    return 70;
  }
}

process.exitCode = await main(process.argv);
// the daemon closes its handles on stop; a stray timer must not keep a finished CLI alive
if (process.argv[2] !== 'run') setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
