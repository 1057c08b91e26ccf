import { describe, expect, it } from 'vitest';
import { HttpResponseReader, MAX_HEAD_BYTES } from '../../checks/http-response.js';

interface Outcome { kind: string; status: number; body: string; reusable: boolean; truncated: boolean; reason?: string }

/** feed `text` in the given pieces, then EOF if asked; the first non-'more' answer wins */
function read(pieces: readonly string[], opts: { head?: boolean; keep?: number; eof?: boolean } = {}): Outcome {
  const r = new HttpResponseReader({ headRequest: opts.head ?? false, keepBytes: opts.keep ?? 64 * 1024 });
  let last: { kind: string; reason?: string } = { kind: 'more' };
  for (const p of pieces) {
    last = r.push(Buffer.from(p, 'latin1'));
    if (last.kind !== 'more') break;
  }
  if (last.kind === 'more' && opts.eof) last = r.end();
  return { kind: last.kind, status: r.statusCode, body: r.body(), reusable: r.reusable, truncated: r.truncated, ...(last.reason ? { reason: last.reason } : {}) };
}

/** every way of cutting `text` in two, and byte by byte: the answer must not depend on the cuts */
function everySplit(text: string, opts: { head?: boolean; keep?: number; eof?: boolean } = {}): Outcome {
  const whole = read([text], opts);
  for (let i = 1; i < text.length; i++) expect(read([text.slice(0, i), text.slice(i)], opts), `split at ${i}`).toEqual(whole);
  expect(read([...text], opts), 'byte by byte').toEqual(whole);
  return whole;
}

describe('HttpResponseReader', () => {
  it('reads a Content-Length body, and the connection stays reusable', () => {
    expect(everySplit('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok'))
      .toEqual({ kind: 'done', status: 200, body: 'ok', reusable: true, truncated: false });
  });

  it('reads a chunked body with extensions and trailers', () => {
    const text = 'HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nnot \r\n5\r\nready\r\n0\r\nX-Trailer: 1\r\n\r\n';
    expect(everySplit(text)).toEqual({ kind: 'done', status: 503, body: 'not ready', reusable: true, truncated: false });
  });

  it('reads a body delimited by close: done only at EOF, and not reusable', () => {
    expect(read(['HTTP/1.0 200 OK\r\n\r\nhello'])).toMatchObject({ kind: 'more', status: 200 });
    expect(everySplit('HTTP/1.0 200 OK\r\n\r\nhello', { eof: true })).toEqual({ kind: 'done', status: 200, body: 'hello', reusable: false, truncated: false });
  });

  it('honours Connection: close on 1.1 and keep-alive on 1.0', () => {
    expect(read(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'])).toMatchObject({ kind: 'done', reusable: false });
    expect(read(['HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n'])).toMatchObject({ kind: 'done', reusable: true });
    expect(read(['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'])).toMatchObject({ kind: 'done', reusable: false });
  });

  it('has no body for HEAD, 204 and 304, whatever Content-Length says', () => {
    expect(read(['HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'], { head: true })).toMatchObject({ kind: 'done', status: 200, reusable: true });
    expect(read(['HTTP/1.1 204 No Content\r\n\r\n'])).toMatchObject({ kind: 'done', status: 204, reusable: true });
    expect(read(['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'])).toMatchObject({ kind: 'done', status: 304 });
  });

  it('skips 100 Continue and 103 Early Hints before the real answer', () => {
    const text = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    expect(everySplit(text)).toEqual({ kind: 'done', status: 200, body: 'ok', reusable: true, truncated: false });
  });

  it('keeps at most keepBytes of a long body and stops reading there (then not reusable)', () => {
    const head = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n';
    // the limit is reached with body bytes still to come: stop, close
    expect(read([head, 'a'.repeat(30), 'a'.repeat(70)], { keep: 10 })).toEqual({ kind: 'done', status: 200, body: 'a'.repeat(10), reusable: false, truncated: true });
    // the whole body came in one read: it is consumed, so the connection can still be reused
    expect(read([head + 'a'.repeat(100)], { keep: 10 })).toEqual({ kind: 'done', status: 200, body: 'a'.repeat(10), reusable: true, truncated: false });
    // chunked and close-delimited bodies stop at the limit too
    expect(read(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n', 'b'.repeat(20)], { keep: 10 })).toMatchObject({ kind: 'done', body: 'b'.repeat(10), truncated: true, reusable: false });
    expect(read(['HTTP/1.0 200 OK\r\n\r\n', 'c'.repeat(20)], { keep: 10 })).toMatchObject({ kind: 'done', body: 'c'.repeat(10), truncated: true, reusable: false });
  });

  it('says what is wrong with bytes that are not an HTTP/1.x response', () => {
    expect(read(['SSH-2.0-OpenSSH_9.2\r\n\r\n'])).toMatchObject({ kind: 'invalid', reason: 'not an HTTP/1.x status line: "SSH-2.0-OpenSSH_9.2"' });
    expect(read(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n'])).toMatchObject({ kind: 'invalid', reason: 'conflicting Content-Length headers' });
    expect(read(['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'])).toMatchObject({ kind: 'invalid' });
    expect(read(['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n'])).toMatchObject({ kind: 'invalid' });
    expect(read(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'])).toMatchObject({ kind: 'invalid', reason: 'bad chunk size "zz"' });
    expect(read(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX'])).toMatchObject({ kind: 'invalid', reason: 'chunk not followed by CRLF' });
    expect(read(['HTTP/1.1 101 Switching Protocols\r\n\r\n'])).toMatchObject({ kind: 'invalid' });
    expect(read([`HTTP/1.1 200 OK\r\nX: ${'x'.repeat(MAX_HEAD_BYTES)}`])).toMatchObject({ kind: 'invalid', reason: `response head longer than ${MAX_HEAD_BYTES} bytes` });
  });

  it('tells a response cut short at EOF from a close-delimited one', () => {
    expect(read([], { eof: true })).toMatchObject({ kind: 'invalid', reason: 'connection closed before a response' });
    expect(read(['HTTP/1.1 200 OK\r\nContent-Le'], { eof: true })).toMatchObject({ kind: 'invalid', reason: 'connection closed in the response head' });
    expect(read(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok'], { eof: true })).toMatchObject({ kind: 'invalid', reason: 'connection closed with the body incomplete (2 bytes read)' });
  });

  it('decodes the kept body as UTF-8, also when a character is split across reads', () => {
    const body = 'grün ✓';
    const bytes = Buffer.from(body, 'utf8');
    const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${bytes.length}\r\n\r\n`, 'latin1');
    const all = Buffer.concat([head, bytes]);
    for (let i = 1; i < all.length; i++) {
      const r = new HttpResponseReader({ headRequest: false, keepBytes: 1024 });
      r.push(all.subarray(0, i));
      expect(r.push(all.subarray(i)).kind).toBe('done');
      expect(r.body()).toBe(body);
    }
  });
});
