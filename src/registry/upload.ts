/**
 * Blob uploads (distribution spec "Pushing blobs"): open a session with POST (optionally as a cross-repository
 * mount), then either one streaming monolithic PUT, or PATCH chunks and a closing PUT that carries the digest.
 * Chunked uploads track the offset the registry acknowledges (`Range`), never what was sent, follow the new
 * `Location` of every answer, resume a failed chunk from the registry's offset (`GET <location>`), start
 * over once with a new session when the old one is gone, and cancel the session (`DELETE`) when they give up.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError, describeError, isStowageError, StowageError, throwIfAborted } from '../errors.js';
import { Hasher, parseDigest, verifyBytes, verifyingStream, type DigestAlgorithm } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import type { Content } from '../content/store.js';
import { discardBody, headerValue, registryError, type HttpClient, type HttpResponse } from './http.js';

/** Where a repository's API lives, and how to name it in messages. */
export interface RepositoryEndpoint {
  client: HttpClient;
  /** `http(s)://host[:port]` of the registry API. */
  base: URL;
  /** The repository path, e.g. `team/app`. */
  name: string;
}

/**
 * The answer to opening an upload: mounted (nothing to send), or a session URL to send the bytes to, with the
 * smallest chunk the registry takes (`OCI-Chunk-Min-Length`) when it says.
 */
export type UploadStart = { mounted: true } | { mounted: false; location: URL; minChunkLength?: number };

/** Options of the upload steps. */
export interface UploadOptions {
  /** Names the operation and reference in messages. */
  operation: string;
  signal?: AbortSignal | undefined;
  /** Bytes in memory were hashed against the descriptor by the caller: not hashed again before sending. */
  verified?: boolean;
}

/** How blobs are cut into requests. */
export interface UploadSettings {
  /**
   * Blobs of a known digest up to this many bytes go in one streaming PUT; larger ones in PATCH chunks.
   * Default {@link defaultMonolithicLimit}.
   */
  monolithicLimit?: number;
  /** Bytes per PATCH, raised to the registry's `OCI-Chunk-Min-Length`. Default {@link defaultChunkSize}. */
  chunkSize?: number;
}

/**
 * Default chunk size: 64 MiB. Measured pushing 1 GiB on loopback to docker-registry 2.8 (2 cores, medians of
 * 3 to 7 alternating runs): 8 MiB chunks took 9.7 s and 16 MiB 7.8 s against 5.5 s for one PATCH and 5.5 s
 * for `curl -T`, since the registry syncs its upload file to disk at the end of every request; 64 MiB took
 * 5.6 s and 128 MiB 5.2 s, within the noise of one PATCH. A chunk that fails and must be sent again costs at
 * most this much, and 64 MiB stays under the 100 MB request caps of common fronting proxies.
 */
export const defaultChunkSize = 64 * 1024 * 1024;
/** Default limit of a monolithic PUT: the chunk size, so a blob that fits one chunk goes in one request. */
export const defaultMonolithicLimit = defaultChunkSize;
/** The smallest chunk size accepted: reads and requests below 1 MiB cost more than they save. */
export const minimumChunkSize = 1024 * 1024;
/** Failed requests of a chunked upload retried in a row, without the registry's offset advancing. */
export const maxChunkAttempts = 5;

// Best-effort cleanup must not hang an aborted command.
const cancelTimeoutMs = 5_000;
// Backoff between chunk attempts: 250 ms, 500 ms, 1 s, 2 s (with jitter), at most 4 s.
const backoffBaseMs = 250;
const backoffCapMs = 4_000;

function signalOption(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

/** The token scopes a push to `name` needs (and pull on the mount source). */
export function pushScopes(name: string, mountFrom?: string): string[] {
  const scopes = [`repository:${name}:pull,push`];
  if (mountFrom !== undefined && mountFrom !== name) scopes.push(`repository:${mountFrom}:pull`);
  return scopes;
}

/**
 * Checks a session URL: it must stay on the registry's host and must not downgrade https to http.
 * @throws StowageError `REGISTRY_ERROR`.
 */
export function checkUploadLocation(endpoint: RepositoryEndpoint, url: URL, operation: string): URL {
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host !== endpoint.base.host) {
    throw new StowageError('REGISTRY_ERROR', `${operation}: refusing an upload Location on another host (${url.origin})`);
  }
  if (endpoint.base.protocol === 'https:' && url.protocol !== 'https:') {
    throw new StowageError('REGISTRY_ERROR', `${operation}: refusing an upload Location that downgrades https to http`);
  }
  const checked = new URL(url.href);
  checked.hash = '';
  return checked;
}

/**
 * The upload session URL from a `Location` header, resolved against the request URL. It must stay on the
 * registry's host and must not downgrade https to http.
 * @throws StowageError `REGISTRY_ERROR`.
 */
export function uploadLocation(endpoint: RepositoryEndpoint, response: HttpResponse, operation: string): URL {
  const location = headerValue(response.headers, 'location');
  if (location === undefined || location === '') {
    throw new StowageError('REGISTRY_ERROR', `${operation}: the registry answered ${response.status} without an upload Location`);
  }
  let url: URL;
  try {
    url = new URL(location, response.url);
  } catch (error) {
    throw new StowageError('REGISTRY_ERROR', `${operation}: invalid upload Location "${location}"`, { cause: error });
  }
  return checkUploadLocation(endpoint, url, operation);
}

/** `location` with `digest=<digest>` appended to its query (`?` or `&`), the rest of the URL kept byte for byte. */
export function withDigest(location: URL, digest: string): URL {
  const href = location.href;
  const separator = location.search === '' ? (href.endsWith('?') ? '' : '?') : href.endsWith('&') ? '' : '&';
  return new URL(`${href}${separator}digest=${encodeURIComponent(digest)}`);
}

/**
 * The offset an upload session has reached, from a `Range` answer: `0-<last byte>`, with or without the
 * `bytes=` prefix that some registries add. `0-0` reads as 0: it is what docker-registry answers for an
 * empty session (it cannot express "one byte"), and chunks are never one byte long from offset 0.
 * Returns undefined for a missing or malformed value.
 */
export function parseRange(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^\s*(?:bytes=)?(\d+)-(\d+)\s*$/i.exec(value);
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start !== 0 || end < start) return undefined;
  return end === 0 ? 0 : end + 1;
}

/**
 * The chunk size to use: `configured` (at least {@link minimumChunkSize}), raised to the registry's
 * `OCI-Chunk-Min-Length` when it sent one.
 */
export function effectiveChunkSize(configured: number, minChunkLength?: number): number {
  const size = Math.max(minimumChunkSize, Math.floor(configured));
  return minChunkLength !== undefined && minChunkLength > size ? minChunkLength : size;
}

/** The byte range `[start, end)` of the next PATCH from the acknowledged `offset`, or undefined when done. */
export function nextChunk(offset: number, size: number, chunkSize: number): { start: number; end: number } | undefined {
  if (offset >= size) return undefined;
  return { start: offset, end: Math.min(size, offset + chunkSize) };
}

/** The PATCH ranges of a whole upload from `offset`, as {@link nextChunk} plans them (for tests and progress). */
export function planChunks(offset: number, size: number, chunkSize: number): { start: number; end: number }[] {
  const chunks: { start: number; end: number }[] = [];
  for (let chunk = nextChunk(offset, size, chunkSize); chunk !== undefined; chunk = nextChunk(chunk.end, size, chunkSize)) chunks.push(chunk);
  return chunks;
}

function minChunkLengthOf(response: HttpResponse): number | undefined {
  const value = Number(headerValue(response.headers, 'oci-chunk-min-length'));
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * Opens an upload session: `POST /v2/<name>/blobs/uploads/`, or with `mount` a cross-repository mount
 * (`?mount=<digest>&from=<repo>`: 201 = mounted, 202 = a session to upload into). This request has no body,
 * so it is where credentials are negotiated before the streaming requests.
 * @throws StowageError `UNAUTHORIZED`, `DENIED`, `NOT_FOUND`, `UNSUPPORTED`, `REGISTRY_ERROR`, `DIGEST_MISMATCH`
 *   (a mount answered with another digest), `NETWORK`, `ABORTED`.
 */
export async function startUpload(
  endpoint: RepositoryEndpoint,
  options: UploadOptions & { mount?: { digest: string; from: string } },
): Promise<UploadStart> {
  const { operation, mount } = options;
  const url = new URL(`/v2/${endpoint.name}/blobs/uploads/`, endpoint.base);
  if (mount !== undefined) {
    url.searchParams.set('mount', mount.digest);
    url.searchParams.set('from', mount.from);
  }
  const response = await endpoint.client.send({
    method: 'POST',
    url,
    headers: { 'content-length': '0' },
    // A repeated POST opens another session (or mounts again): the lost one expires on its own.
    idempotent: true,
    operation,
    scopes: pushScopes(endpoint.name, mount?.from),
    ...signalOption(options.signal),
  });
  if (mount !== undefined && response.status === 201) {
    await discardBody(response);
    const digest = headerValue(response.headers, 'docker-content-digest');
    if (digest !== undefined && digest !== mount.digest) {
      throw new StowageError('DIGEST_MISMATCH', `${operation}: the registry mounted ${digest}, expected ${mount.digest}`);
    }
    return { mounted: true };
  }
  if (response.status !== 202) throw await registryError(response, operation);
  await discardBody(response);
  const location = uploadLocation(endpoint, response, operation);
  const minChunkLength = minChunkLengthOf(response);
  return minChunkLength === undefined ? { mounted: false, location } : { mounted: false, location, minChunkLength };
}

/**
 * Sends the whole blob to an upload session in one streaming `PUT <location>&digest=<digest>`. A stream is
 * verified as it is sent (size and digest); bytes in memory must have been verified by the caller.
 */
async function putBlob(endpoint: RepositoryEndpoint, location: URL, desc: Descriptor, content: Content, options: UploadOptions): Promise<void> {
  const { operation } = options;
  let body: Uint8Array | Readable;
  let verifier: Readable | undefined;
  if (content instanceof Uint8Array) {
    body = content;
  } else {
    const stream = verifyingStream(desc, operation);
    content.on('error', (error) => {
      stream.destroy(isStowageError(error) ? error : new StowageError('IO', `${operation}: reading the content failed: ${describeError(error)}`, { cause: error }));
    });
    stream.once('close', () => {
      if (!content.readableEnded) content.destroy();
    });
    content.pipe(stream);
    body = stream;
    verifier = stream;
  }
  // Our own check of the bytes explains a failure better than what the transport or the registry saw.
  const ownFailure = (): StowageError | undefined => (verifier?.errored instanceof StowageError ? verifier.errored : undefined);
  let response: HttpResponse;
  try {
    response = await endpoint.client.send({
      method: 'PUT',
      url: withDigest(location, desc.digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body,
      operation,
      scopes: pushScopes(endpoint.name),
      ...signalOption(options.signal),
    });
  } catch (error) {
    throw ownFailure() ?? error;
  }
  if (response.status !== 201) {
    const own = ownFailure();
    verifier?.destroy();
    if (own !== undefined) {
      await discardBody(response);
      throw own;
    }
    throw await registryError(response, operation);
  }
  await discardBody(response);
  checkStoredDigest(response, desc.digest, operation);
}

function checkStoredDigest(response: HttpResponse, expected: string, operation: string): void {
  const digest = headerValue(response.headers, 'docker-content-digest');
  if (digest !== undefined && digest !== expected && digestAlgorithm(digest) === digestAlgorithm(expected)) {
    throw new StowageError('DIGEST_MISMATCH', `${operation}: the registry stored ${digest}, expected ${expected}`);
  }
}

function digestAlgorithm(digest: string): string | undefined {
  try {
    return parseDigest(digest).algorithm;
  } catch {
    return undefined;
  }
}

/** Cancels an upload session (`DELETE <location>`), best effort: failures are ignored, and it gives up after 5 s. */
export async function cancelUpload(endpoint: RepositoryEndpoint, location: URL, operation: string): Promise<void> {
  try {
    const response = await endpoint.client.send({
      method: 'DELETE',
      url: location,
      operation: `${operation}: cancel upload`,
      scopes: pushScopes(endpoint.name),
      signal: AbortSignal.timeout(cancelTimeoutMs),
    });
    await discardBody(response);
  } catch {
    // The registry expires abandoned sessions on its own.
  }
}

/** Bytes that can be read again from any offset: a local file, or bytes in memory. */
export interface SeekableSource {
  /** The number of bytes. */
  readonly size: number;
  /**
   * The bytes `[start, end)` in order, in pieces of at most 1 MiB. A piece's memory may be read into again
   * once three more pieces have been asked for (a file keeps a ring of four buffers): a consumer that keeps
   * pieces longer copies them.
   * @throws StowageError `IO`, `SIZE_MISMATCH` (the source is shorter than it said), `ABORTED`.
   */
  read(start: number, end: number, signal: AbortSignal | undefined): AsyncIterable<Uint8Array>;
}

/** Bytes in memory as a {@link SeekableSource}. */
export function bytesSource(bytes: Uint8Array): SeekableSource {
  const pieceSize = minimumChunkSize;
  return {
    size: bytes.byteLength,
    async *read(start: number, end: number): AsyncIterable<Uint8Array> {
      for (let position = start; position < end; position += pieceSize) {
        yield bytes.subarray(position, Math.min(end, position + pieceSize));
        await Promise.resolve();
      }
    },
  };
}

/**
 * Reads a stream in exact slices, one per chunk, and checks at the end that it holds exactly the bytes
 * expected. It cannot go back: a chunk that failed can be sent again only if the registry already has it.
 */
class StreamCursor {
  private readonly iterator: AsyncIterator<unknown>;
  private rest: Uint8Array | undefined;
  private readonly operation: string;

  constructor(stream: Readable, operation: string) {
    this.iterator = stream[Symbol.asyncIterator]();
    this.operation = operation;
  }

  async *take(count: number): AsyncIterable<Uint8Array> {
    let remaining = count;
    while (remaining > 0) {
      let piece = this.rest;
      this.rest = undefined;
      if (piece === undefined) {
        const next = await this.pull();
        if (next === undefined) throw new StowageError('SIZE_MISMATCH', `${this.operation}: the content ended ${remaining} bytes early`);
        piece = next;
      }
      if (piece.byteLength > remaining) {
        this.rest = piece.subarray(remaining);
        piece = piece.subarray(0, remaining);
      }
      remaining -= piece.byteLength;
      yield piece;
    }
  }

  /**
   * Checks that nothing follows the bytes taken (and lets a verifying source report its verdict).
   * @throws StowageError `SIZE_MISMATCH`, and what the stream fails with.
   */
  async finish(): Promise<void> {
    if ((this.rest !== undefined && this.rest.byteLength > 0) || (await this.pull()) !== undefined) {
      throw new StowageError('SIZE_MISMATCH', `${this.operation}: the content is longer than its descriptor says`);
    }
  }

  async close(): Promise<void> {
    try {
      await this.iterator.return?.();
    } catch {
      // Closing a failed stream: its error was reported already.
    }
  }

  private async pull(): Promise<Uint8Array | undefined> {
    for (;;) {
      let next: IteratorResult<unknown>;
      try {
        next = await this.iterator.next();
      } catch (error) {
        if (isStowageError(error)) throw error;
        throw new StowageError('IO', `${this.operation}: reading the content failed: ${describeError(error)}`, { cause: error });
      }
      if (next.done === true) return undefined;
      if (next.value instanceof Uint8Array && next.value.byteLength > 0) return next.value;
    }
  }
}

/** The content of a chunked upload: seekable (resumable from any offset) or a stream read once. */
export type ChunkSource = { kind: 'seekable'; source: SeekableSource } | { kind: 'stream'; stream: Readable; size: number };

/** Where a chunked upload stands: the session, the offset the registry acknowledged, the hash of those bytes. */
interface Session {
  location: URL;
  offset: number;
  /** The hash of the bytes `[0, offset)`. */
  hasher: Hasher;
}

/** Options of {@link chunkedUpload}. */
export interface ChunkedUploadOptions extends UploadOptions {
  /** The digest the bytes must have; without it, the digest is computed over the bytes as they are sent. */
  expected?: string;
  /** The algorithm of the computed digest (default sha256, or the one of `expected`). */
  algorithm?: DigestAlgorithm;
  /** Bytes per PATCH before the registry's minimum; default {@link defaultChunkSize}. */
  chunkSize?: number;
  /**
   * A session to continue (from an earlier run): its offset is asked with `GET <location>`, and the bytes
   * before it are hashed from the (seekable) source without sending them. A session the registry no longer
   * knows is replaced by a new one.
   */
  resume?: URL;
  /** A session opened already (a mount answered 202); used instead of a POST. */
  opened?: { location: URL; minChunkLength?: number };
  /** Bytes of this blob the registry has plus the ones in flight, as they go (it moves back after a failure). */
  onProgress?: (transferred: number) => void;
  /**
   * Called when a session is opened or continued and after every acknowledged chunk, before the next request:
   * where to continue (`location`) and how far the registry is (`offset`). `undefined` when the upload is
   * finished or cancelled. Errors it throws fail the upload.
   */
  onSession?: (session: { location: URL; offset: number } | undefined) => Promise<void> | void;
  /**
   * Leave the session open when the upload is aborted or fails for the network's sake (a later run may
   * continue it, once the network is back); default: cancel it.
   */
  keepForLater?: boolean;
  /**
   * Called once every byte is acknowledged, before the closing PUT: a check that the source is still what was
   * read (a file that changed meanwhile). What it throws fails the upload, and the session is cancelled.
   */
  beforeClose?: () => Promise<void>;
}

/** What a chunked upload did. */
export interface ChunkedUploadResult {
  /** The digest of the bytes the registry acknowledged, as sent with the closing PUT. */
  digest: string;
  /** Bytes sent in PATCH bodies (chunks sent again after a failure count twice). */
  bytesSent: number;
  /** The offset a resumed session continued from (0 for a new session). */
  resumedFrom: number;
  /** True when the registry lost the session (or its bytes were not ours) and the upload started over once. */
  restarted: boolean;
}

/** A failure after which the session cannot be continued: start over with a new one (once, seekable sources only). */
class SessionLost extends Error {
  readonly reason: StowageError;
  constructor(reason: StowageError) {
    super(reason.message);
    this.reason = reason;
  }
}

/** A request failure worth asking the registry for its offset: the network, 401 (token expired), 408, 416, 429, 5xx. */
function isRecoverableStatus(status: number): boolean {
  return status === 401 || status === 408 || status === 416 || status === 429 || status >= 500;
}

function isRecoverableError(error: unknown): boolean {
  return isStowageError(error, 'NETWORK');
}

/**
 * Uploads `content` in PATCH chunks and a closing `PUT ?digest=`, one pass over the bytes: each chunk is hashed
 * as it is sent, and the digest sent is over exactly the bytes the registry acknowledged. The offset comes from
 * the registry's `Range` answers, and every answer's `Location` is used for the next request. A failed chunk
 * (network error, 401, 408, 416, 429, 5xx) is continued from the offset `GET <location>` reports, re-reading a
 * seekable source from there; a session that is gone (404), whose offset a stream cannot reproduce, or whose
 * bytes the registry finds to have another digest (400 on the PUT) is replaced once by a new session for a
 * seekable source. When it gives up it cancels the session (`DELETE`), unless `keepForLater` and the
 * failure is an abort or the network's.
 * @throws StowageError `DIGEST_MISMATCH` (`expected` differs from the bytes; the registry stored another
 *   digest), `SIZE_MISMATCH`, `IO` (the source failed), `NETWORK` (after {@link maxChunkAttempts} failed
 *   attempts), `NOT_FOUND` (the session vanished twice), `REGISTRY_ERROR`, `UNAUTHORIZED`, `DENIED`,
 *   `TOO_LARGE`, `ABORTED`.
 */
export async function chunkedUpload(endpoint: RepositoryEndpoint, content: ChunkSource, options: ChunkedUploadOptions): Promise<ChunkedUploadResult> {
  return new ChunkedUpload(endpoint, content, options).run();
}

class ChunkedUpload {
  private readonly size: number;
  private readonly algorithm: DigestAlgorithm;
  private readonly cursor: StreamCursor | undefined;
  private readonly seekable: SeekableSource | undefined;
  private chunkSize: number;
  private bytesSent = 0;
  private resumedFrom = 0;
  private restarted = false;
  private failures = 0;
  /** How far a stream source has been read (it cannot go back). */
  private streamPosition = 0;
  private session: Session | undefined;

  constructor(
    private readonly endpoint: RepositoryEndpoint,
    content: ChunkSource,
    private readonly options: ChunkedUploadOptions,
  ) {
    this.size = content.kind === 'seekable' ? content.source.size : content.size;
    this.seekable = content.kind === 'seekable' ? content.source : undefined;
    this.cursor = content.kind === 'stream' ? new StreamCursor(content.stream, options.operation) : undefined;
    this.algorithm = options.expected === undefined ? (options.algorithm ?? 'sha256') : parseDigest(options.expected).algorithm;
    this.chunkSize = effectiveChunkSize(options.chunkSize ?? defaultChunkSize);
  }

  async run(): Promise<ChunkedUploadResult> {
    try {
      this.session = this.options.resume !== undefined ? await this.resume(this.options.resume) : undefined;
      for (;;) {
        this.session ??= await this.open();
        try {
          const digest = await this.drive();
          await this.options.onSession?.(undefined);
          return { digest, bytesSent: this.bytesSent, resumedFrom: this.resumedFrom, restarted: this.restarted };
        } catch (error) {
          if (!(error instanceof SessionLost)) throw error;
          if (this.restarted || this.seekable === undefined) throw error.reason;
          // The registry lost the session, or holds bytes we cannot line up with ours: start over, once.
          this.restarted = true;
          this.resumedFrom = 0;
          const lost = this.session;
          this.session = undefined;
          this.failures = 0;
          await cancelUpload(this.endpoint, lost.location, this.options.operation);
        }
      }
    } catch (error) {
      await this.giveUp(error);
      throw error instanceof SessionLost ? error.reason : error;
    } finally {
      await this.cursor?.close();
    }
  }

  private async giveUp(error: unknown): Promise<void> {
    const session = this.session;
    if (session === undefined) return;
    const aborted = this.options.signal?.aborted === true || isStowageError(error, 'ABORTED');
    if (this.options.keepForLater === true && (aborted || isStowageError(error, 'NETWORK'))) return;
    await cancelUpload(this.endpoint, session.location, this.options.operation);
    try {
      await this.options.onSession?.(undefined);
    } catch {
      // The upload failed already; forgetting its session is best effort.
    }
  }

  /** A new session (POST, or the one a mount opened). */
  private async open(): Promise<Session> {
    const { operation, signal } = this.options;
    let opened = this.options.opened;
    if (opened === undefined || this.restarted) {
      const start = await startUpload(this.endpoint, { operation, signal });
      if (start.mounted) throw new StowageError('REGISTRY_ERROR', `${operation}: the registry answered a plain upload as a mount`);
      opened = start.minChunkLength === undefined ? { location: start.location } : { location: start.location, minChunkLength: start.minChunkLength };
    }
    this.chunkSize = effectiveChunkSize(this.options.chunkSize ?? defaultChunkSize, opened.minChunkLength);
    const session: Session = { location: opened.location, offset: 0, hasher: new Hasher(this.algorithm) };
    await this.options.onSession?.({ location: session.location, offset: 0 });
    return session;
  }

  /** An earlier session: its offset from the registry, the bytes before it hashed locally. Undefined when it is gone. */
  private async resume(location: URL): Promise<Session | undefined> {
    let checked: URL;
    try {
      checked = checkUploadLocation(this.endpoint, location, this.options.operation);
    } catch {
      return undefined;
    }
    const status = await this.status(checked, true);
    if (status === undefined) return undefined;
    if (this.seekable === undefined || status.offset > this.size) {
      await cancelUpload(this.endpoint, status.location, this.options.operation);
      return undefined;
    }
    const hasher = new Hasher(this.algorithm);
    await this.hashRange(hasher, 0, status.offset);
    this.resumedFrom = status.offset;
    const session: Session = { location: status.location, offset: status.offset, hasher };
    await this.options.onSession?.({ location: session.location, offset: session.offset });
    return session;
  }

  /** Sends chunks until the registry has every byte, then closes the session. Returns the digest. */
  private async drive(): Promise<string> {
    for (;;) {
      const session = this.current();
      const chunk = nextChunk(session.offset, this.size, this.chunkSize);
      if (chunk === undefined) {
        const digest = await this.close(session);
        if (digest !== undefined) return digest;
        continue;
      }
      await this.sendChunk(session, chunk.start, chunk.end);
    }
  }

  private current(): Session {
    if (this.session === undefined) throw new StowageError('REGISTRY_ERROR', `${this.options.operation}: no upload session`);
    return this.session;
  }

  private body(start: number, end: number, pending: Hasher): Readable {
    const { signal, onProgress } = this.options;
    const pieces = this.seekable !== undefined ? this.seekable.read(start, end, signal) : this.requireCursor().take(end - start);
    const counted = async function* (this: ChunkedUpload): AsyncIterable<Uint8Array> {
      let position = start;
      for await (const piece of pieces) {
        pending.update(piece);
        position += piece.byteLength;
        this.bytesSent += piece.byteLength;
        if (this.seekable === undefined) this.streamPosition += piece.byteLength;
        onProgress?.(position);
        yield piece;
      }
    };
    // Bytes, not objects: at most about one read of look-ahead per upload. The pieces of a file share a
    // ring of four buffers (see SeekableSource.read) that this stream cannot outrun: it holds one piece
    // ahead, and undici pauses it after any write the socket does not take at once, until 'drain' (the
    // socket has taken every byte). So a piece is out of the socket's hands before the third piece after it
    // is read, one piece earlier than its buffer is read into again. Were it ever overwritten in flight, the
    // registry would refuse the digest sent at the close (hashed as each piece was read): no bad blob.
    return Readable.from(counted.call(this), { objectMode: false, highWaterMark: minimumChunkSize });
  }

  private requireCursor(): StreamCursor {
    if (this.cursor === undefined) throw new StowageError('REGISTRY_ERROR', `${this.options.operation}: no content`);
    return this.cursor;
  }

  private async sendChunk(session: Session, start: number, end: number): Promise<void> {
    const { operation, signal } = this.options;
    const pending = session.hasher.copy();
    const body = this.body(start, end, pending);
    let response: HttpResponse;
    try {
      response = await this.endpoint.client.send({
        method: 'PATCH',
        url: session.location,
        headers: {
          // docker-registry answers 500 to any other type.
          'content-type': 'application/octet-stream',
          'content-range': `${start}-${end - 1}`,
          'content-length': String(end - start),
        },
        body,
        operation,
        scopes: pushScopes(this.endpoint.name),
        ...signalOption(signal),
      });
    } catch (error) {
      body.destroy();
      const own = body.errored instanceof StowageError ? body.errored : undefined;
      if (own !== undefined) throw own;
      if (!isRecoverableError(error)) throw error;
      await this.recover(error instanceof StowageError ? error : new StowageError('NETWORK', `${operation}: ${describeError(error)}`, { cause: error }), pending);
      return;
    }
    if (response.status === 202 || response.status === 204) {
      await discardBody(response);
      const offset = parseRange(headerValue(response.headers, 'range'));
      const location = headerValue(response.headers, 'location') === undefined ? session.location : uploadLocation(this.endpoint, response, operation);
      // Every byte sent was hashed first, so a registry that has them all leaves `pending` complete.
      if (offset === end && pending.size === end) {
        this.session = { location, offset, hasher: pending };
        this.failures = 0;
        await this.options.onSession?.({ location, offset });
        return;
      }
      // Nothing else is trusted: the registry's own word on where the session stands.
      session.location = location;
      await this.recover(new StowageError('REGISTRY_ERROR', `${operation}: the registry acknowledged ${offset === undefined ? 'an unknown offset' : `offset ${offset}`} after a chunk ending at ${end}`), pending);
      return;
    }
    body.destroy();
    if (response.status === 404) throw new SessionLost(await registryError(response, `${operation}: upload session`));
    if (!isRecoverableStatus(response.status)) throw await registryError(response, operation);
    await this.recover(await registryError(response, operation), pending);
  }

  /**
   * After a failed request: waits (backoff), asks the registry for the session's offset, and lines the
   * session up with it. `pending` is the hash of the chunk in flight, when there was one.
   */
  private async recover(failure: StowageError, pending: Hasher | undefined): Promise<void> {
    const { operation, signal } = this.options;
    for (;;) {
      this.failures++;
      if (this.failures >= maxChunkAttempts) {
        throw new StowageError(failure.code, `${failure.message} (gave up after ${this.failures} attempts)`, { cause: failure });
      }
      const delay = Math.min(backoffCapMs, backoffBaseMs * 2 ** (this.failures - 1));
      try {
        await sleep(delay / 2 + Math.random() * (delay / 2), undefined, signalOption(signal));
      } catch {
        throw abortError(signal, operation);
      }
      let status: { location: URL; offset: number } | undefined;
      try {
        status = await this.status(this.current().location, false);
      } catch (error) {
        if (isStowageError(error) && (error.code === 'NETWORK' || error.code === 'REGISTRY_ERROR') && signal?.aborted !== true) {
          failure = error;
          continue;
        }
        throw error;
      }
      if (status === undefined) throw new SessionLost(new StowageError('NOT_FOUND', `${operation}: the registry lost the upload session (${failure.message})`));
      await this.lineUp(status.location, status.offset, pending);
      return;
    }
  }

  /**
   * `GET <location>`: the session's offset and next location. Undefined when the registry does not know it
   * (404). A `fresh` check (resuming from an earlier run) treats any other failure as a lost session too.
   */
  private async status(location: URL, fresh: boolean): Promise<{ location: URL; offset: number } | undefined> {
    const { operation, signal } = this.options;
    const what = `${operation}: upload status`;
    let response: HttpResponse;
    try {
      response = await this.endpoint.client.send({ method: 'GET', url: location, operation: what, scopes: pushScopes(this.endpoint.name), ...signalOption(signal) });
    } catch (error) {
      if (fresh && isStowageError(error, 'NETWORK', 'REGISTRY_ERROR')) return undefined;
      throw error;
    }
    await discardBody(response);
    if (response.status === 404 || (fresh && response.status >= 400 && response.status < 500 && response.status !== 401 && response.status !== 403)) return undefined;
    if (response.status !== 204 && response.status !== 200) throw await registryError(response, what);
    const offset = parseRange(headerValue(response.headers, 'range'));
    if (offset === undefined) throw new StowageError('REGISTRY_ERROR', `${what}: the registry answered without a valid Range ("${headerValue(response.headers, 'range') ?? ''}")`);
    const next = headerValue(response.headers, 'location') === undefined ? location : uploadLocation(this.endpoint, response, what);
    return { location: next, offset };
  }

  /** Moves the session to the registry's `offset`, re-hashing what it has from a seekable source. */
  private async lineUp(location: URL, offset: number, pending: Hasher | undefined): Promise<void> {
    const session = this.current();
    let hasher: Hasher;
    if (this.seekable === undefined && offset !== this.streamPosition) {
      // A stream cannot go back, nor skip: only the offset it has read up to can be continued from.
      throw new SessionLost(new StowageError('NETWORK', `${this.options.operation}: the upload failed at offset ${offset} and a stream cannot send those bytes again`));
    } else if (offset === session.offset) {
      hasher = session.hasher;
    } else if (pending !== undefined && offset === pending.size) {
      hasher = pending;
    } else if (this.seekable !== undefined && offset <= this.size) {
      // The registry kept part of a chunk (or lost some): hash what it has from the local source, no network.
      hasher = offset > session.offset ? session.hasher.copy() : new Hasher(this.algorithm);
      await this.hashRange(hasher, hasher.size, offset);
    } else {
      throw new SessionLost(new StowageError('REGISTRY_ERROR', `${this.options.operation}: the registry is at offset ${offset}, which this upload cannot continue from`));
    }
    if (offset > session.offset) this.failures = 0;
    this.session = { location, offset, hasher };
    await this.options.onSession?.({ location, offset });
  }

  private async hashRange(hasher: Hasher, start: number, end: number): Promise<void> {
    if (start >= end || this.seekable === undefined) return;
    for await (const piece of this.seekable.read(start, end, this.options.signal)) hasher.update(piece);
  }

  /** The closing `PUT ?digest=`. Returns the digest, or undefined when the session must send more first. */
  private async close(session: Session): Promise<string | undefined> {
    const { operation, signal, expected } = this.options;
    await this.cursor?.finish();
    await this.options.beforeClose?.();
    const digest = session.hasher.copy().digest();
    if (expected !== undefined && digest !== expected) {
      throw new StowageError('DIGEST_MISMATCH', `${operation}: content has digest ${digest}, expected ${expected}`);
    }
    let response: HttpResponse;
    try {
      response = await this.endpoint.client.send({
        method: 'PUT',
        url: withDigest(session.location, digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': '0' },
        // No body: sent again, it either closes the session or finds it closed (404, then the blob is checked).
        idempotent: true,
        operation,
        scopes: pushScopes(this.endpoint.name),
        ...signalOption(signal),
      });
    } catch (error) {
      if (!isRecoverableError(error)) throw error;
      if (await this.blobExists(digest)) return digest;
      await this.recover(error instanceof StowageError ? error : new StowageError('NETWORK', operation, { cause: error }), undefined);
      return undefined;
    }
    if (response.status === 201) {
      await discardBody(response);
      checkStoredDigest(response, digest, operation);
      return digest;
    }
    if (response.status === 404) {
      const gone = await registryError(response, `${operation}: upload session`);
      // A retried PUT finds the session closed when the first attempt closed it but its answer was lost.
      if (await this.blobExists(digest)) return digest;
      throw new SessionLost(gone);
    }
    if (response.status === 400) {
      // DIGEST_INVALID: the bytes the registry holds are not the ones hashed here (docker-registry appends
      // chunks whatever their Content-Range says). The session is worth nothing: start over.
      const error = await registryError(response, operation);
      throw new SessionLost(new StowageError('DIGEST_MISMATCH', `${error.message} (the registry's bytes differ from the ones sent)`, { cause: error }));
    }
    if (!isRecoverableStatus(response.status)) throw await registryError(response, operation);
    const failure = await registryError(response, operation);
    if (await this.blobExists(digest)) return digest;
    await this.recover(failure, undefined);
    return undefined;
  }

  private async blobExists(digest: string): Promise<boolean> {
    try {
      const response = await this.endpoint.client.send({
        method: 'HEAD',
        url: new URL(`/v2/${this.endpoint.name}/blobs/${digest}`, this.endpoint.base),
        operation: `${this.options.operation}: check blob`,
        scopes: pushScopes(this.endpoint.name),
        ...signalOption(this.options.signal),
      });
      await discardBody(response);
      return response.status === 200;
    } catch (error) {
      if (isStowageError(error, 'ABORTED')) throw error;
      return false;
    }
  }
}

/**
 * Uploads a blob whose descriptor is known: opens a session (with `mountFrom`, a cross-repository mount
 * first: 201 is done, 202 continues in the session the registry opened), then sends the bytes in one
 * streaming PUT (up to `monolithicLimit`) or in PATCH chunks (beyond it; bytes in memory can be resumed after
 * a failed chunk, a stream cannot), and cancels the session when that fails. `content` may be a function: it
 * is called only when the bytes are needed (not after a mount). Bytes in memory are verified before they are
 * sent; a stream is verified as it is sent, and a chunked stream is checked before the closing PUT.
 * Returns `mounted` or `uploaded`.
 * @throws StowageError as {@link startUpload} and {@link chunkedUpload}, and `SIZE_MISMATCH`, `DIGEST_MISMATCH`,
 *   `IO` (the content stream failed), `TOO_LARGE` from the PUT, and what `content` throws.
 */
export async function uploadBlob(
  endpoint: RepositoryEndpoint,
  desc: Descriptor,
  content: Content | (() => Promise<Content>),
  options: UploadOptions & UploadSettings & { mountFrom?: string | undefined },
): Promise<'mounted' | 'uploaded'> {
  if (content instanceof Uint8Array && options.verified !== true) verifyBytes(content, desc, options.operation);
  const chunkSize = options.chunkSize ?? defaultChunkSize;
  const monolithicLimit = options.monolithicLimit ?? defaultMonolithicLimit;
  const release = (): void => {
    if (content instanceof Readable) content.destroy();
  };
  let start: UploadStart;
  try {
    throwIfAborted(options.signal, options.operation);
    start = await startUpload(endpoint, { ...options, ...(options.mountFrom === undefined ? {} : { mount: { digest: desc.digest, from: options.mountFrom } }) });
  } catch (error) {
    release();
    throw error;
  }
  if (start.mounted) {
    release();
    return 'mounted';
  }
  let bytes: Content;
  try {
    bytes = typeof content === 'function' ? await content() : content;
    if (typeof content === 'function' && bytes instanceof Uint8Array) verifyBytes(bytes, desc, options.operation);
  } catch (error) {
    await cancelUpload(endpoint, start.location, options.operation);
    throw error;
  }
  if (desc.size > monolithicLimit) {
    const source: ChunkSource = bytes instanceof Uint8Array ? { kind: 'seekable', source: bytesSource(bytes) } : { kind: 'stream', stream: bytes, size: desc.size };
    try {
      await chunkedUpload(endpoint, source, {
        operation: options.operation,
        signal: options.signal,
        expected: desc.digest,
        chunkSize,
        opened: start.minChunkLength === undefined ? { location: start.location } : { location: start.location, minChunkLength: start.minChunkLength },
      });
    } finally {
      if (!(bytes instanceof Uint8Array)) bytes.destroy();
    }
    return 'uploaded';
  }
  try {
    await putBlob(endpoint, start.location, desc, bytes, options);
  } catch (error) {
    await cancelUpload(endpoint, start.location, options.operation);
    throw error;
  }
  return 'uploaded';
}
