/**
 * Glue between Node streams and tar-stream's (streamx) streams, which Node's `pipeline` does not type:
 * waiting for `drain` and `finish` with errors and early closes turned into rejections.
 */

/** The events of a tar-stream writable that these helpers listen to. */
export interface TarWritable {
  once(name: 'drain' | 'finish' | 'close' | 'error', listener: (...args: unknown[]) => void): unknown;
  off(name: 'drain' | 'finish' | 'close' | 'error', listener: (...args: unknown[]) => void): unknown;
  write(data: unknown): boolean;
  end(data: unknown): unknown;
  destroy(error?: Error | null): void;
  readonly destroying: boolean;
  readonly destroyed: boolean;
}

/** Resolves on `event`; rejects when the stream errors or closes first. */
export function settleOn(stream: TarWritable, event: 'drain' | 'finish'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // A stream destroyed already will not emit again.
    if (stream.destroying || stream.destroyed) {
      reject(new Error('the tar stream was closed'));
      return;
    }
    const cleanup = (): void => {
      stream.off(event, done);
      stream.off('error', failed);
      stream.off('close', closed);
    };
    const done = (): void => {
      cleanup();
      resolve();
    };
    const failed = (...args: unknown[]): void => {
      cleanup();
      const error = args[0];
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const closed = (): void => {
      cleanup();
      reject(new Error('the tar stream closed early'));
    };
    stream.once(event, done);
    stream.once('error', failed);
    stream.once('close', closed);
  });
}

/** Bytes from a stream that should only carry bytes. */
export function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new TypeError(`expected bytes from the stream, got ${typeof chunk}`);
}

/** Writes every chunk of `source` into `sink`, honouring backpressure, then ends it and waits for `finish`. */
export async function writeAllInto(source: AsyncIterable<unknown>, sink: TarWritable, waitForFinish: boolean): Promise<void> {
  try {
    for await (const chunk of source) {
      if (!sink.write(asBytes(chunk))) await settleOn(sink, 'drain');
    }
    const finished = waitForFinish ? settleOn(sink, 'finish') : undefined;
    sink.end(undefined);
    await finished;
  } catch (error) {
    sink.destroy(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
}
