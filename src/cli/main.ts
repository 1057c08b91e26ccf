#!/usr/bin/env node
/**
 * `lvsd`: one binary, subcommands. The only module that touches process.argv, process.exit,
 * signals and the terminal.
 */
import { Command, Option } from 'commander';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/types.js';
import { ConfigError, LvsError, errorMessage, formatProblem } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { StatusSnapshot } from '../daemon/status.js';
import { startDemo } from '../demo/demo.js';
import { tryParseDuration } from '../config/duration.js';
import { apiGet, type ApiTarget } from './client.js';
import { useCompactHeap } from '../core/heap.js';
import { startRuntime, lvsdVersion } from './runtime.js';
import { formatStatusTable } from './status-table.js';

const DEFAULT_SOCKET = '/run/lvsd/lvsd.sock';

/** exit codes: 0 ok, 1 refused / invalid, 2 usage, 3 daemon unreachable */
const EXIT_INVALID = 1;
const EXIT_UNREACHABLE = 3;

class CliExit extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

async function readConfig(file: string): Promise<Config> {
  try {
    return await loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliExit(e.problems.map(formatProblem).join('\n'), EXIT_INVALID);
    throw e;
  }
}

async function resolveTarget(opts: { socket?: string; url?: string; config?: string }): Promise<ApiTarget> {
  if (opts.url) return { url: opts.url };
  if (opts.socket) return { socket: opts.socket };
  if (opts.config) {
    const c = await readConfig(opts.config);
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
      const config = await readConfig(opts.config);
      const log = createLogger(opts.logLevel);
      // a bug in one corner must not take the director's health checks down: log it, keep going
      process.on('unhandledRejection', (reason) => log.error({ err: errorMessage(reason) }, 'unhandled rejection'));
      // SIGHUP's default action would kill the daemon (systemctl reload); reload comes with the operations work
      process.on('SIGHUP', () => log.warn('SIGHUP: configuration reload is not supported by this version; restart lvsd to apply config changes'));
      const rt = await startRuntime(config, { log });
      const sig = await waitForSignal();
      log.info({ signal: sig }, 'stopping');
      await rt.close();
    });

  program.command('validate')
    .description('check a config file; prints FILE:LINE:COL: message for every error')
    .requiredOption('-c, --config <file>', 'config file')
    .action(async (opts: { config: string }) => {
      const config = await readConfig(opts.config);
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

  program.command('demo')
    .description('run lvsd on four loopback HTTP realservers (one flapping) with the in-memory IPVS table')
    .option('--listen <host:port>', 'API and status page address', '127.0.0.1:9410')
    .option('--flap <duration>', 'how long the flapping realserver stays healthy, then unhealthy', '20s')
    .option('--exit-after <duration>', 'stop by itself after this long (for scripted runs)')
    .option('--print-config', 'print the generated config and exit')
    .addOption(new Option('--log-level <level>', 'daemon log level (logs go to stderr)').choices(['debug', 'info', 'warn', 'error']).default('warn'))
    .action(async (opts: { listen: string; flap: string; exitAfter?: string; printConfig?: boolean; logLevel: string }) => {
      const log = createLogger(opts.logLevel, process.stderr);
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
