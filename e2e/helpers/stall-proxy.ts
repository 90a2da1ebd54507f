/**
 * A TCP proxy on 127.0.0.1 in front of a registry that passes everything until `stallAfterBytes` bytes have
 * gone one way on one connection (responses for a download, requests for an upload), then holds the rest:
 * a transfer that has begun and cannot finish. Tests interrupt the client at that point, with no race
 * against the transfer's end.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface StallProxy {
  /** `127.0.0.1:PORT`, as in a reference. */
  host: string;
  /** Settles once some connection has been held after `stallAfterBytes` bytes. */
  stalled: Promise<void>;
  close(): Promise<void>;
}

/** Which way the bytes that are held go. */
export type StallDirection = 'download' | 'upload';

/** Starts a proxy to `127.0.0.1:<upstreamPort>`. */
export async function startStallProxy(upstreamPort: number, stallAfterBytes: number, direction: StallDirection = 'download'): Promise<StallProxy> {
  const sockets = new Set<Socket>();
  let markStalled: () => void = () => undefined;
  const stalled = new Promise<void>((resolve) => {
    markStalled = resolve;
  });
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let forwarded = 0;
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', closeBoth).on('close', closeBoth);
    upstream.on('error', closeBoth).on('close', closeBoth);
    // The held direction goes from `source` to `sink`; the other one flows freely.
    const [source, sink] = direction === 'download' ? [upstream, client] : [client, upstream];
    sink.pipe(source);
    source.on('data', (chunk: Buffer) => {
      const room = stallAfterBytes - forwarded;
      if (chunk.byteLength <= room) {
        forwarded += chunk.byteLength;
        sink.write(chunk);
        return;
      }
      if (room > 0) sink.write(chunk.subarray(0, room));
      forwarded = stallAfterBytes;
      // Hold the rest: the other side waits for bytes that never come (until it gives up or is interrupted).
      source.pause();
      markStalled();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('the stall proxy has no port');
  return {
    host: `127.0.0.1:${address.port}`,
    stalled,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        sockets.clear();
        server.close(() => {
          resolve();
        });
      }),
  };
}
