/** The parts of raw-socket@1.8.1 lvsd uses (the package ships no types). */
declare module 'raw-socket' {
  import { EventEmitter } from 'node:events';
  export const AddressFamily: { readonly IPv4: number; readonly IPv6: number };
  export interface RawSocket extends EventEmitter {
    setOption(level: number, option: number, value: number | Buffer, length?: number): void;
    getOption(level: number, option: number, value: Buffer, length: number): number;
    send(buffer: Buffer, offset: number, length: number, address: string, afterCallback: (error: Error | null, bytes: number) => void): RawSocket;
    close(): RawSocket;
    on(event: 'message', fn: (buffer: Buffer, source: string) => void): this;
    on(event: 'error', fn: (error: Error) => void): this;
    on(event: 'close', fn: () => void): this;
  }
  export function createSocket(options: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
}
