/**
 * A local file to a blob in one pass: the digest is computed while the bytes go up (PATCH chunks, then the
 * closing PUT carries it), instead of hashing the file first and reading it again to upload it. A digest
 * cache lets an unchanged file that the registry has be skipped after one HEAD, without reading it; upload
 * sessions kept in the state directory let an interrupted push continue where the registry stands.
 */
import type { BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { describeError, isStowageError, StowageError, throwIfAborted } from '../errors.js';
import { Hasher } from '../oci/digest.js';
import { MediaType, isValidMediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';
import type { PushFileOptions, PushFileResult } from '../content/store.js';
import { fileIdentity, sameIdentity, type FileIdentity } from '../content/file-identity.js';
import { isMissing } from '../pack/path-guard.js';
import { discardBody, registryError } from './http.js';
import { cancelUpload, checkUploadLocation, chunkedUpload, pushScopes, uploadBlob, type RepositoryEndpoint, type SeekableSource } from './upload.js';
import type { UploadSessionKey } from './upload-state.js';

/** Files are read in pieces of this size (DESIGN: >= 1 MiB; hashing is ~45% faster than with 64 KiB reads). */
export const fileReadSize = 1024 * 1024;
/**
 * Files up to this size are read into memory in one read and hashed before anything is sent: then a HEAD can
 * skip a blob the registry has, and one PUT sends it (as many requests as POST, PATCH and PUT would take).
 */
export const smallFileLimit = 4 * 1024 * 1024;

/**
 * Memory for small files, reused: a push of many small files would otherwise allocate (and fault in) a
 * fresh buffer per file, for the garbage collector to find later. A buffer comes back only after its
 * upload succeeded (the registry has every byte: no write of it can still be pending); after a failure it
 * is left to the collector. At most {@link smallBuffersKept} are kept.
 */
const smallBuffers: ArrayBuffer[] = [];
const smallBuffersKept = 8;

function takeSmallBuffer(size: number): ArrayBuffer {
  const index = smallBuffers.findIndex((buffer) => buffer.byteLength >= size);
  if (index >= 0) return smallBuffers.splice(index, 1)[0] ?? new ArrayBuffer(size);
  return new ArrayBuffer(Math.max(size, fileReadSize));
}

function giveBackSmallBuffer(buffer: ArrayBuffer): void {
  if (smallBuffers.length < smallBuffersKept) smallBuffers.push(buffer);
}

/**
 * How many read buffers a file being uploaded in chunks cycles through: a piece's memory is read into again
 * this many pieces later (why that is safe: `ChunkedUpload.body` in upload.ts). A fresh 1 MiB buffer per
 * piece made 1 GiB of garbage per GiB pushed; buffers still in flight at a collection were promoted, and in
 * most runs V8 then made ~30 full collections per GiB: ~0.8 s more CPU and ~30 MiB more memory.
 */
const readRing = 4;

/** A regular file opened for reading, as a {@link SeekableSource} that counts what it reads. */
class FileSource implements SeekableSource {
  readonly size: number;
  /** Bytes read from the file so far (hashing and uploading). */
  bytesRead = 0;
  private readonly ring: Buffer[] = [];
  private pieces = 0;

  constructor(
    private readonly handle: FileHandle,
    size: number,
    private readonly what: string,
  ) {
    this.size = size;
  }

  async *read(start: number, end: number, signal: AbortSignal | undefined): AsyncIterable<Uint8Array> {
    let position = start;
    while (position < end) {
      const length = Math.min(fileReadSize, end - position);
      const buffer = this.nextBuffer().subarray(0, length);
      const bytesRead = await this.readAt(buffer, 0, length, position, signal);
      position += bytesRead;
      yield bytesRead === length ? buffer : buffer.subarray(0, bytesRead);
    }
  }

  private nextBuffer(): Buffer {
    const slot = this.pieces++ % readRing;
    let buffer = this.ring[slot];
    if (buffer === undefined) {
      buffer = Buffer.allocUnsafeSlow(fileReadSize);
      this.ring[slot] = buffer;
    }
    return buffer;
  }

  /** The whole file in memory (small files only), read into `memory`. */
  async readAll(memory: ArrayBuffer, signal: AbortSignal | undefined): Promise<Buffer> {
    const bytes = Buffer.from(memory, 0, this.size);
    for (let position = 0; position < this.size; ) position += await this.readAt(bytes, position, this.size - position, position, signal);
    return bytes;
  }

  /**
   * Reads up to `length` bytes at `position` into `buffer` from `offset`; returns how many (at least one).
   * @throws StowageError `ABORTED`, `IO`, `SIZE_MISMATCH` (the file ended early: it changed while read).
   */
  private async readAt(buffer: Buffer, offset: number, length: number, position: number, signal: AbortSignal | undefined): Promise<number> {
    throwIfAborted(signal, this.what);
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.handle.read(buffer, offset, length, position));
    } catch (error) {
      throw new StowageError('IO', `${this.what}: reading failed: ${describeError(error)}`, { cause: error });
    }
    if (bytesRead === 0) throw new StowageError('SIZE_MISMATCH', `${this.what}: the file ended at ${position} bytes, expected ${this.size} (it changed while being read)`);
    this.bytesRead += bytesRead;
    return bytesRead;
  }
}

async function statOf(handle: FileHandle, what: string): Promise<BigIntStats> {
  try {
    return await handle.stat({ bigint: true });
  } catch (error) {
    throw new StowageError('IO', `${what}: ${describeError(error)}`, { cause: error });
  }
}

/**
 * Throws when the file is not the version it was when the upload began: its bytes may be a mix of two.
 * @throws StowageError `IO`.
 */
async function checkUnchanged(handle: FileHandle, before: FileIdentity, what: string): Promise<void> {
  if (!sameIdentity(before, fileIdentity(await statOf(handle, what)))) {
    throw new StowageError('IO', `${what}: the file changed while it was being read; push it again once it is written`);
  }
}

async function blobExists(endpoint: RepositoryEndpoint, digest: string, options: { operation: string; signal?: AbortSignal | undefined }): Promise<boolean> {
  const response = await endpoint.client.send({
    method: 'HEAD',
    url: new URL(`/v2/${endpoint.name}/blobs/${digest}`, endpoint.base),
    operation: `${options.operation}: check blob ${digest}`,
    scopes: pushScopes(endpoint.name),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  await discardBody(response);
  if (response.status === 200) return true;
  if (response.status === 404) return false;
  throw await registryError(response, `${options.operation}: check blob ${digest}`);
}

/**
 * Uploads the regular file at `path` as a blob, reading it once (see the module comment), and returns its
 * descriptor (`mediaType`, `digest`, `size`; no annotations). In order: a digest cache hit and a HEAD that
 * finds the blob skip it unread; a file up to {@link smallFileLimit} is read, hashed, HEAD-checked and sent
 * in one PUT; a larger one continues its saved session when `sessions` has one the registry still knows
 * (the bytes before the registry's offset are re-hashed from the file, not sent), else goes to a new session,
 * in PATCH chunks hashed as they are sent. When aborted or cut off by the network, a session saved in
 * `sessions` is left open for the next run. The file must not change while it is read (`IO` otherwise, and nothing is committed).
 * @throws StowageError `FILE_NOT_FOUND` (missing, or not a regular file), `INVALID_MEDIA_TYPE`, `IO`,
 *   `SIZE_MISMATCH` (the file shrank), `ABORTED`, and what the upload requests throw (`NETWORK`,
 *   `UNAUTHORIZED`, `DENIED`, `REGISTRY_ERROR`, `DIGEST_MISMATCH`, `TOO_LARGE`).
 */
export async function uploadFile(endpoint: RepositoryEndpoint, path: string, options: PushFileOptions & { operation: string }): Promise<PushFileResult> {
  const { operation, signal } = options;
  throwIfAborted(signal, operation);
  const mediaType = options.mediaType ?? MediaType.ociLayer;
  if (!isValidMediaType(mediaType)) throw new StowageError('INVALID_MEDIA_TYPE', `${operation}: invalid media type "${mediaType}"`);
  const full = resolvePath(path);
  let handle: FileHandle;
  try {
    handle = await open(full, 'r');
  } catch (error) {
    const reason = isMissing(error) ? 'no such file' : `cannot be read: ${describeError(error)}`;
    throw new StowageError('FILE_NOT_FOUND', `${operation}: ${reason}`, { cause: error });
  }
  try {
    const stats = await statOf(handle, operation);
    if (!stats.isFile()) throw new StowageError('FILE_NOT_FOUND', `${operation}: not a regular file`);
    const identity = fileIdentity(stats);
    const size = identity.size;
    options.onStart?.(size);
    const describe = (digest: string): Descriptor => ({ mediaType, digest, size });
    const checkOptions = { operation, signal };

    const cached = options.digestCache?.get(full, identity);
    // The digest the registry was found not to have: no second HEAD for it once the file is hashed.
    let absent: string | undefined;
    if (cached !== undefined) {
      if (await blobExists(endpoint, cached, checkOptions)) return { descriptor: describe(cached), outcome: 'exists', bytesRead: 0, bytesSent: 0, resumedFrom: 0 };
      absent = cached;
    }

    const source = new FileSource(handle, size, operation);
    const readStartedAt = Date.now();
    if (size <= smallFileLimit) {
      const memory = takeSmallBuffer(size);
      const bytes = await source.readAll(memory, signal);
      await checkUnchanged(handle, identity, operation);
      const hasher = new Hasher();
      hasher.update(bytes);
      const desc = describe(hasher.digest());
      options.digestCache?.set(full, identity, desc.digest, readStartedAt);
      if (desc.digest !== absent && (await blobExists(endpoint, desc.digest, checkOptions))) {
        giveBackSmallBuffer(memory);
        return { descriptor: desc, outcome: 'exists', bytesRead: source.bytesRead, bytesSent: 0, resumedFrom: 0 };
      }
      // Hashed just above: the upload need not hash the bytes again.
      await uploadBlob(endpoint, desc, bytes, { operation, signal, verified: true, ...settingsOf(options) });
      giveBackSmallBuffer(memory);
      options.onProgress?.(size);
      return { descriptor: desc, outcome: 'uploaded', bytesRead: source.bytesRead, bytesSent: size, resumedFrom: 0 };
    }

    const sessions = options.sessions;
    const key: UploadSessionKey = { registry: endpoint.base.href, repository: endpoint.name, path: full, identity };
    const saved = sessions === undefined ? {} : await sessions.find(key);
    // A session of an earlier version of the file: no use now, and the registry holds its bytes for days.
    if (saved.stale !== undefined) await cancelSaved(endpoint, saved.stale, operation);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source }, {
      operation,
      signal,
      ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
      ...(saved.session === undefined ? {} : { resume: saved.session.location }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      keepForLater: sessions !== undefined,
      beforeClose: () => checkUnchanged(handle, identity, operation),
      ...(sessions === undefined
        ? {}
        : { onSession: (session) => (session === undefined ? sessions.forget(key) : sessions.save(key, session.location, session.offset)) }),
    });
    options.digestCache?.set(full, identity, result.digest, readStartedAt);
    return { descriptor: describe(result.digest), outcome: 'uploaded', bytesRead: source.bytesRead, bytesSent: result.bytesSent, resumedFrom: result.resumedFrom };
  } catch (error) {
    if (isStowageError(error)) throw error;
    throw new StowageError('IO', `${operation}: ${describeError(error)}`, { cause: error });
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function cancelSaved(endpoint: RepositoryEndpoint, location: URL, operation: string): Promise<void> {
  let checked: URL;
  try {
    checked = checkUploadLocation(endpoint, location, operation);
  } catch {
    return;
  }
  await cancelUpload(endpoint, checked, operation);
}

function settingsOf(options: PushFileOptions): { chunkSize?: number; monolithicLimit?: number } {
  return {
    ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
    ...(options.monolithicLimit === undefined ? {} : { monolithicLimit: options.monolithicLimit }),
  };
}
