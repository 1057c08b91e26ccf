import { describe, expect, it } from 'vitest';
import { abortSignalOf, Cancellation } from '../../checks/cancel.js';

describe('Cancellation', () => {
  it('calls each listener once, in order, with the reason set; removed and late listeners are not called', () => {
    const c = new Cancellation();
    const calls: string[] = [];
    const a = (): void => { calls.push(`a:${String(c.reason)}`); };
    const b = (): void => { calls.push('b'); };
    const gone = (): void => { calls.push('gone'); };
    c.addEventListener('abort', a, { once: true });
    c.addEventListener('abort', a); // the same listener twice is one listener, as with EventTarget
    c.addEventListener('abort', gone);
    c.addEventListener('abort', b);
    c.removeEventListener('abort', gone);
    expect(c.aborted).toBe(false);
    c.abort('deadline');
    c.abort('again'); // one-shot: the first reason stays
    c.addEventListener('abort', () => calls.push('late'));
    expect(calls).toEqual(['a:deadline', 'b']);
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe('deadline');
  });

  it('a throwing listener does not stop the others, and its error is not swallowed', async () => {
    const c = new Cancellation();
    const calls: string[] = [];
    c.addEventListener('abort', () => { throw new Error('listener bug'); });
    c.addEventListener('abort', () => calls.push('second'));
    const uncaught = new Promise<unknown>((resolve) => process.once('uncaughtException', resolve));
    c.abort('stop');
    expect(calls).toEqual(['second']);
    expect(((await uncaught) as Error).message).toBe('listener bug');
  });

  it('gives a real AbortSignal that follows it (for child_process), before or after the abort', () => {
    const before = new Cancellation();
    const s = abortSignalOf(before);
    expect(s).toBeInstanceOf(AbortSignal);
    expect(s.aborted).toBe(false);
    before.abort('x');
    expect([s.aborted, s.reason]).toEqual([true, 'x']);
    const after = new Cancellation();
    after.abort('y');
    expect(abortSignalOf(after).reason).toBe('y');
    const real = new AbortController().signal;
    expect(abortSignalOf(real)).toBe(real);
  });
});
