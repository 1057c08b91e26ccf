/**
 * Prerequisites of integration tests. Locally a missing prerequisite skips the test (with a
 * printed reason); with LVSD_REQUIRE_INTEGRATION=1 (CI) it fails instead.
 */
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { findProgram } from '../../src/core/find-program.js';
import { describe, it } from 'vitest';

export function integrationRequired(): boolean {
  return process.env.LVSD_REQUIRE_INTEGRATION === '1';
}

/**
 * true = skip. Throws when the prerequisite is missing and integration is required.
 * Use as `describe.skipIf(skipUnless(isRoot(), 'needs root'))(...)`.
 */
export function skipUnless(ok: boolean, reason: string): boolean {
  if (ok) return false;
  if (integrationRequired()) throw new Error(`integration prerequisite missing: ${reason}`);
  console.warn(`skipping: ${reason} (set LVSD_REQUIRE_INTEGRATION=1 to fail instead)`);
  return true;
}

/** `needs(isRoot(), 'root').describe('...', () => {...})`: describe/it that skip (or fail in CI) without the prerequisite. */
export function needs(condition: boolean, reason: string): { describe: ReturnType<typeof describe.skipIf>; it: ReturnType<typeof it.skipIf> } {
  const skip = skipUnless(condition, reason);
  return { describe: describe.skipIf(skip), it: it.skipIf(skip) };
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** An executable on PATH or in the system directories (or an absolute path), else null. */
export function which(name: string): string | null {
  if (name.includes('/')) {
    try {
      accessSync(name, constants.X_OK);
      return name;
    } catch {
      return null;
    }
  }
  return findProgram(name) ?? null;
}

/** the optional native raw-socket package (VRRP's raw socket) loads */
export function hasRawSocket(): boolean {
  try {
    createRequire(import.meta.url)('raw-socket');
    return true;
  } catch {
    return false;
  }
}

/** what two directors speaking VRRP in namespaces need */
export const VRRP_NEEDS = 'root, ip, arping and the raw-socket package (a VRRP raw socket)';
export const vrrpReady = (): boolean => isRoot() && which('ip') !== null && which('arping') !== null && hasRawSocket();
