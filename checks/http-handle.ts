/**
 * A plain-HTTP check on a fresh connection, on libuv's TCP handle without a net.Socket
 * (checks/tcp-wrap.ts): connect, write the request, read the response, close. This is what
 * every http check does at intervals longer than the keep-alive idle time (the config
 * loader's default then), so at 50,000 realservers it is the probe engine's whole cost; the
 * socket's stream machinery was most of it. Verdicts and pending texts are the socket way's
 * (checks/http.ts), which keeps kept-alive and TLS connections.
 */
import { connectingTo } from './connect.js';
import { HttpResponseReader } from './http-response.js';
import { afterChunk, afterEnd, afterError, freshOutcome } from './http-round-trip.js';
import { error, type Attempt, type Verdict } from './result.js';
import { errnoName, type StreamHandle, type StreamWrap } from './tcp-wrap.js';
import type { ProbeTarget } from './types.js';

/** one request on a connection of its own; the response or why there is none */
export type FreshExchange = (
  target: ProbeTarget, request: string, reader: HttpResponseReader, attempt: Attempt,
) => Promise<HttpResponseReader | Verdict>;

export function handleFreshExchange(b: StreamWrap): FreshExchange {
  const { tcp, WriteWrap, streamBaseState: state, kReadBytesOrError, kArrayBufferOffset, UV_EOF } = b;
  return (target, request, reader, attempt) => {
    if (attempt.signal.aborted) return Promise.resolve(error('aborted before connecting'));
    attempt.pending = connectingTo(target);
    return new Promise((resolve) => {
      const handle = new tcp.TCP(tcp.constants.SOCKET);
      let bytes = 0;
      let settled = false;
      const finish = (v: HttpResponseReader | Verdict): void => {
        if (settled) return;
        settled = true;
        attempt.signal.removeEventListener('abort', onAbort);
        // the request said Connection: close; whatever the server sends after is not read
        handle.close();
        resolve(v);
      };
      // the attempt's own verdict (timeout, kit closed) wins in runAttempt; this frees the handle
      const onAbort = (): void => finish(error('aborted'));
      const failed = (status: number): void => finish(freshOutcome(afterError(errnoName(status), bytes)));

      function onRead(this: StreamHandle, data: ArrayBuffer | undefined): void {
        const nread = state[kReadBytesOrError]!;
        if (nread > 0 && data) {
          bytes += nread;
          // each read has its own ArrayBuffer (no user buffer), so the reader may keep views of it
          const r = afterChunk(reader, Buffer.from(data, state[kArrayBufferOffset]!, nread), attempt);
          if (r) finish(freshOutcome(r));
        } else if (nread === UV_EOF) {
          finish(freshOutcome(afterEnd(reader, bytes)));
        } else if (nread < 0) {
          failed(nread);
        }
      }

      const connect = new tcp.TCPConnectWrap();
      connect.oncomplete = (status) => {
        if (settled) return;
        if (status !== 0) return finish(error(`connect ${errnoName(status)}`));
        attempt.pending = 'waiting for headers';
        handle.onread = onRead;
        const readErr = handle.readStart();
        if (readErr !== 0) return failed(readErr);
        const write = new WriteWrap();
        write.handle = handle;
        write.oncomplete = (s) => { if (s < 0) failed(s); };
        const writeErr = handle.writeLatin1String(write, request);
        if (writeErr !== 0) failed(writeErr);
      };
      // a ProbeTarget address is an IP literal: a colon means IPv6
      const err = target.address.includes(':')
        ? handle.connect6(connect, target.address, target.port)
        : handle.connect(connect, target.address, target.port);
      if (err !== 0) return finish(error(`connect ${errnoName(err)}`));
      attempt.signal.addEventListener('abort', onAbort, { once: true });
    });
  };
}
