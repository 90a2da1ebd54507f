/** Reading pushed content while checking it against its descriptor: into memory, or chunk by chunk. */
import { addAbortSignal, Readable } from 'node:stream';
import { abortError, describeError, isStowageError, StowageError, throwIfAborted } from '../errors.js';
import { Hasher, parseDigest, verifyBytes, verifyResult, type Expected } from '../oci/digest.js';
import type { Content, OperationOptions } from './store.js';

/**
 * Calls `onChunk` with each chunk of `content` while hashing it, fails with `SIZE_MISMATCH` as soon as more
 * than `expected.size` bytes arrive, and checks size and digest at the end. `onChunk` may be async; the
 * stream is not read further until it settles. An aborted signal destroys the stream.
 * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_DIGEST`, `ABORTED`, `INVALID_ARGUMENT`
 *   (a stream yielding strings or objects), `IO` (the stream failed with a non-stowage error), or whatever
 *   `onChunk` throws.
 */
export async function forEachVerifiedChunk(
  content: Content,
  expected: Expected,
  what: string,
  onChunk: (chunk: Buffer) => void | Promise<void>,
  options: OperationOptions = {},
): Promise<void> {
  const { algorithm } = parseDigest(expected.digest);
  const { signal } = options;
  if (content instanceof Uint8Array) {
    throwIfAborted(signal, what);
    verifyBytes(content, expected, what);
    await onChunk(Buffer.from(content.buffer, content.byteOffset, content.byteLength));
    return;
  }
  if (signal?.aborted === true) {
    content.destroy();
    throw abortError(signal, what);
  }
  const source: AsyncIterable<unknown> = signal === undefined ? content : addAbortSignal(signal, content);
  const hasher = new Hasher(algorithm);
  try {
    for await (const chunk of source) {
      if (!(chunk instanceof Uint8Array)) {
        throw new StowageError('INVALID_ARGUMENT', `${what}: the content stream must yield bytes, not ${typeof chunk}`);
      }
      hasher.update(chunk);
      if (hasher.size > expected.size) {
        throw new StowageError('SIZE_MISMATCH', `${what}: received more than the expected ${expected.size} bytes`);
      }
      await onChunk(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
  } catch (error) {
    content.destroy();
    throwIfAborted(signal, what);
    if (isStowageError(error)) throw error;
    throw new StowageError('IO', `${what}: reading the content failed: ${describeError(error)}`, { cause: error });
  }
  const failure = verifyResult(hasher, expected, what);
  if (failure) throw failure;
}

/**
 * Reads `content` into memory, verified against `expected` (size first, digest at the end). For documents
 * and the memory store only: callers bound `expected.size` before calling.
 * @throws StowageError as {@link forEachVerifiedChunk}.
 */
export async function readVerified(content: Content, expected: Expected, what: string, options: OperationOptions = {}): Promise<Buffer> {
  if (content instanceof Uint8Array) {
    throwIfAborted(options.signal, what);
    verifyBytes(content, expected, what);
    return Buffer.from(content);
  }
  const chunks: Buffer[] = [];
  await forEachVerifiedChunk(content, expected, what, (chunk) => {
    chunks.push(chunk);
  }, options);
  return Buffer.concat(chunks, expected.size);
}

/** Releases a content stream that will not be read (the store already has the bytes). */
export function discardContent(content: Content): void {
  if (content instanceof Readable) content.destroy();
}
