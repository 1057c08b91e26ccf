/**
 * Read at most `maxBytes` of a response body as text; a longer body is cut off (leaving the loop
 * destroys the stream, so the rest is never read). Used by HTTP probes and webhook deliveries.
 */
export async function readBounded(
  body: AsyncIterable<unknown>, maxBytes: number, onChunk?: (bytesSoFar: number) => void,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    chunks.push(buf);
    size += buf.length;
    onChunk?.(size);
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}
