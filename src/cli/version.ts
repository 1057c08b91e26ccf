/** lvsd's version from package.json, in the source tree and in dist/ alike. */
import { createRequire } from 'node:module';

export function lvsdVersion(): string {
  const require = createRequire(import.meta.url);
  for (const p of ['../../package.json', '../../../package.json']) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      // try the next layout (source vs dist)
    }
  }
  return '0.0.0';
}
