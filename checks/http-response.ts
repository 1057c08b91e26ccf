/**
 * An incremental HTTP/1.1 response reader for health checks: pure (bytes in, state out), so it
 * is unit-tested on every split of its input. It reads what a probe needs — status, framing
 * (Content-Length, chunked, until close), keep-alive — and keeps at most `keepBytes` of the body
 * for a regex; a body longer than that is not read to its end (the connection is then closed).
 * 1xx interim responses (100 Continue, 103 Early Hints) are skipped.
 */

/** header block limit: a health endpoint that sends more is broken, not slow */
export const MAX_HEAD_BYTES = 16 * 1024;

export type ResponseProgress =
  /** more bytes needed */
  | { readonly kind: 'more' }
  /** the response is complete (body framed), or the body reached keepBytes */
  | { readonly kind: 'done' }
  /** the bytes are not an HTTP/1.x response */
  | { readonly kind: 'invalid'; readonly reason: string };

type Phase = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'done';

const MORE: ResponseProgress = { kind: 'more' };
const DONE: ResponseProgress = { kind: 'done' };
const invalid = (reason: string): ResponseProgress => ({ kind: 'invalid', reason });
const CRLF = Buffer.from('\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: |$)/;

export class HttpResponseReader {
  /** status of the final (non-1xx) response; 0 until its head is read */
  statusCode = 0;
  /** body bytes seen so far (kept or not) */
  bodyBytes = 0;
  /** true when the body was cut at keepBytes before its end */
  truncated = false;

  private phase: Phase = 'head';
  /** unparsed bytes: the head being collected, or a partial chunk-size/trailer line */
  private pending: Buffer | undefined;
  private remaining = 0;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  private keepAlive = true;
  private readonly headRequest: boolean;
  private readonly keepBytes: number;

  /** `headRequest`: the request was HEAD (no body follows whatever the headers say) */
  constructor(opts: { readonly headRequest: boolean; readonly keepBytes: number }) {
    this.headRequest = opts.headRequest;
    this.keepBytes = opts.keepBytes;
  }

  get headDone(): boolean {
    return this.statusCode !== 0;
  }

  get complete(): boolean {
    return this.phase === 'done';
  }

  /** the connection may carry the next request: complete, fully read, and not `Connection: close` */
  get reusable(): boolean {
    return this.phase === 'done' && this.keepAlive && !this.truncated;
  }

  /** the kept body as text */
  body(): string {
    return Buffer.concat(this.kept, this.keptBytes).toString('utf8');
  }

  /** Feed bytes as they arrive. After 'done' or 'invalid', further bytes are ignored. */
  push(chunk: Buffer): ResponseProgress {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    while (buf.length > 0 || this.phase === 'done') {
      switch (this.phase) {
        case 'done':
          return DONE;
        case 'head': {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buf.length > MAX_HEAD_BYTES) return invalid(`response head longer than ${MAX_HEAD_BYTES} bytes`);
            this.pending = buf;
            return MORE;
          }
          if (end > MAX_HEAD_BYTES) return invalid(`response head longer than ${MAX_HEAD_BYTES} bytes`);
          const r = this.head(buf.toString('latin1', 0, end));
          if (r) return r;
          buf = buf.subarray(end + 4);
          break;
        }
        case 'length':
        case 'chunk-data': {
          // `remaining` bytes of body, then the end (length) or the CRLF after the chunk
          const n = Math.min(this.remaining, buf.length);
          this.remaining -= n;
          const cut = this.keep(buf.subarray(0, n));
          buf = buf.subarray(n);
          if (cut) return DONE;
          if (this.remaining === 0) this.phase = this.phase === 'length' ? 'done' : 'chunk-crlf';
          break;
        }
        case 'until-close':
          return this.keep(buf) ? DONE : MORE;
        case 'chunk-size': {
          const eol = buf.indexOf(CRLF);
          if (eol < 0) {
            if (buf.length > 1024) return invalid('chunk size line too long');
            this.pending = buf;
            return MORE;
          }
          const sizeText = buf.toString('latin1', 0, eol).split(';', 1)[0]!.trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) return invalid(`bad chunk size ${JSON.stringify(sizeText.slice(0, 20))}`);
          this.remaining = parseInt(sizeText, 16);
          this.phase = this.remaining === 0 ? 'trailers' : 'chunk-data';
          buf = buf.subarray(eol + 2);
          break;
        }
        case 'chunk-crlf': {
          if (buf.length < 2) {
            this.pending = buf;
            return MORE;
          }
          if (buf[0] !== 0x0d || buf[1] !== 0x0a) return invalid('chunk not followed by CRLF');
          this.phase = 'chunk-size';
          buf = buf.subarray(2);
          break;
        }
        case 'trailers': {
          const eol = buf.indexOf(CRLF);
          if (eol < 0) {
            if (buf.length > MAX_HEAD_BYTES) return invalid('trailers too long');
            this.pending = buf;
            return MORE;
          }
          // an empty line ends the trailers (and the message)
          if (eol === 0) this.phase = 'done';
          buf = buf.subarray(eol + 2);
          break;
        }
      }
    }
    return MORE;
  }

  /**
   * The peer closed. Completes a close-delimited body; anything else cut short is invalid
   * (the caller tells "closed before any byte" apart itself).
   */
  end(): ResponseProgress {
    if (this.phase === 'done') return DONE;
    if (this.phase === 'until-close') {
      this.phase = 'done';
      this.keepAlive = false;
      return DONE;
    }
    if (this.phase === 'head') return invalid(this.pending ? 'connection closed in the response head' : 'connection closed before a response');
    return invalid(`connection closed with the body incomplete (${this.bodyBytes} bytes read)`);
  }

  /** parse one head; undefined to go on with the body, else the verdict */
  private head(text: string): ResponseProgress | undefined {
    const lines = text.split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (!m) return invalid(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 40))}`);
    const status = Number(m[2]);
    if (status >= 100 && status < 200) {
      // interim: the real response follows (101 would switch protocols, which a check never asks for)
      if (status === 101) return invalid('unexpected 101 Switching Protocols');
      return undefined;
    }
    let length: number | undefined;
    let chunked = false;
    let connection = '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) return invalid(`malformed header line ${JSON.stringify(line.slice(0, 40))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value)) return invalid(`bad Content-Length ${JSON.stringify(value.slice(0, 20))}`);
        const n = Number(value);
        if (length !== undefined && length !== n) return invalid('conflicting Content-Length headers');
        length = n;
      } else if (name === 'transfer-encoding') {
        chunked = value.toLowerCase().split(',').map((s) => s.trim()).at(-1) === 'chunked';
      } else if (name === 'connection') {
        connection += `${value.toLowerCase()},`;
      }
    }
    this.statusCode = status;
    const http10 = m[1] === '0';
    this.keepAlive = http10 ? /(^|,)\s*keep-alive\s*,/.test(connection) : !/(^|,)\s*close\s*,/.test(connection);
    if (this.headRequest || status === 204 || status === 304) {
      this.phase = 'done';
    } else if (chunked) {
      this.phase = 'chunk-size';
    } else if (length !== undefined) {
      this.remaining = length;
      this.phase = length === 0 ? 'done' : 'length';
    } else {
      this.phase = 'until-close';
    }
    return undefined;
  }

  /** keep body bytes up to keepBytes; true when the limit is reached (stop reading) */
  private keep(bytes: Buffer): boolean {
    this.bodyBytes += bytes.length;
    const room = this.keepBytes - this.keptBytes;
    if (bytes.length > 0 && room > 0) {
      const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
      // a socket's chunks are its own (no onread buffer reuse): keeping the view is safe
      this.kept.push(part);
      this.keptBytes += part.length;
    }
    if (this.keptBytes >= this.keepBytes && this.phase !== 'done') {
      const more = this.phase === 'until-close' || this.remaining > 0 || this.phase === 'chunk-data';
      if (more) {
        this.truncated = true;
        this.phase = 'done';
        return true;
      }
    }
    return false;
  }
}
