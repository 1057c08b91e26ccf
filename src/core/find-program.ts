/** Where an executable is: on PATH, else in the usual system directories (daemons often run with a short PATH). */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findProgram(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of [...envPath.split(path.delimiter).filter((d) => d !== ''), ...SYSTEM_DIRS]) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
