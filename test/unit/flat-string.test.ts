import { describe, expect, it } from 'vitest';
import { flatString } from '../../src/core/flat-string.js';

describe('flatString', () => {
  it('returns an equal string for any input, including non-latin1 and short ones', () => {
    for (const s of ['', 'a', '127.0.0.1:80', `tcp ${'198.51.100.7'}:${8080} {"a":1}`, 'web|[2001:db8::1]:80', 'dienst-ä|ß:80-long-enough', 'サービス|192.0.2.1:80', '\ud800 lone surrogate long enough']) {
      expect(flatString(s)).toBe(s);
    }
  });
});
