import { pino, type Logger as PinoLogger } from 'pino';

/** The logger every component takes: pino's, so fields stay structured. */
export type Logger = PinoLogger;

/** JSON lines on stdout (systemd collects them), ISO timestamps. */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  const opts = { level, base: { app: 'lvsd' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(opts, destination) : pino(opts);
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
