/** Typed errors with stable codes; the context says what was being done. */

export class LvsError extends Error {
  readonly code: string;
  readonly context: Readonly<Record<string, unknown>>;
  constructor(code: string, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LvsError';
    this.code = code;
    this.context = context;
  }
}

/** One problem in a config file, located as FILE:LINE:COL. */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}`;
}

export class ConfigError extends LvsError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super('LVSD_ERR_CONFIG', problems.map(formatProblem).join('\n'), { count: problems.length });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export class IpvsError extends LvsError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('LVSD_ERR_IPVS', message, context, options);
    this.name = 'IpvsError';
  }
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
