/**
 * The store contract: small interfaces composed, in the spirit of oras-go. `copy()` and the packers know
 * only these, so registry, OCI layout, memory and files are one algorithm.
 *
 * References passed to `resolve` and `tag` are what follows the repository: a tag or a digest.
 */
import { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import type { Descriptor } from '../oci/schemas.js';
import type { UploadSessions } from '../registry/upload-state.js';
import type { DigestCache } from './digest-cache.js';

/** Options every I/O call takes. */
export interface OperationOptions {
  signal?: AbortSignal;
}

/** Content to push: a stream or bytes in memory. */
export type Content = Readable | Uint8Array;

export interface Fetcher {
  /**
   * Streams the content `desc` addresses. The stream is verified: it errors with `SIZE_MISMATCH` or
   * `DIGEST_MISMATCH` instead of ending when the bytes are not what `desc` says.
   * @throws StowageError `NOT_FOUND` when the content does not exist.
   */
  fetch(desc: Descriptor, options?: OperationOptions): Promise<Readable>;
}

export interface Pusher {
  /**
   * Stores `content` under `desc`. The store verifies size and digest before the content becomes visible;
   * on a mismatch nothing is stored and `SIZE_MISMATCH` or `DIGEST_MISMATCH` is thrown.
   */
  push(desc: Descriptor, content: Content, options?: OperationOptions): Promise<void>;
}

export interface Storage extends Fetcher, Pusher {
  /** True when the content `desc` addresses exists. */
  exists(desc: Descriptor, options?: OperationOptions): Promise<boolean>;
}

export interface Resolver {
  /**
   * The descriptor of the manifest a tag or digest points to.
   * @throws StowageError `NOT_FOUND`.
   */
  resolve(reference: string, options?: OperationOptions): Promise<Descriptor>;
}

export interface Tagger {
  /** Points tag `reference` at the manifest `desc`, which must already exist in the store. */
  tag(desc: Descriptor, reference: string, options?: OperationOptions): Promise<void>;
}

/** What a copy reads from. */
export interface ReadOnlyTarget extends Fetcher, Resolver {
  exists(desc: Descriptor, options?: OperationOptions): Promise<boolean>;
}

/** What a copy writes to (and can read from). */
export interface Target extends Storage, Resolver, Tagger {}

/** Optional: push a manifest directly under a tag in one step (a registry PUTs it by tag). */
export interface ReferencePusher {
  pushReference(desc: Descriptor, content: Content, reference: string, options?: OperationOptions): Promise<void>;
}

/** Optional: resolve and fetch a manifest by tag or digest in one request. */
export interface ReferenceFetcher {
  fetchReference(reference: string, options?: OperationOptions): Promise<{ descriptor: Descriptor; content: Readable }>;
}

/** Optional: make a blob of another repository of the same registry available without uploading it. */
export interface Mounter {
  /**
   * Returns true when mounted; false when the registry wants the bytes instead: then, with
   * `options.content`, they have been uploaded (into the session the registry opened for them).
   */
  mount(desc: Descriptor, fromRepository: string, options?: MountOptions): Promise<boolean>;
  /** The repository of this registry that `source` is, when blobs can be mounted from it; else undefined. */
  mountableFrom?(source: unknown): string | undefined;
}

/** Options of {@link Mounter.mount}. */
export interface MountOptions extends OperationOptions {
  /** The blob's bytes, asked for only when the registry cannot mount it. */
  content?: () => Promise<Content>;
}

/** What {@link RangeFetcher.fetchRange} returns: where the content starts, and the bytes from there. */
export interface RangeContent {
  /**
   * The offset of the first byte of `content`: the offset asked for, or 0 when the store sent the whole
   * content instead (a registry that ignores `Range`).
   */
  offset: number;
  content: Readable;
}

/** Optional: fetch a blob from a byte offset on (HTTP `Range`), to continue an interrupted transfer. */
export interface RangeFetcher {
  /**
   * Streams the bytes of the blob `desc` from `offset` to its end, or all of them with offset 0 when the
   * store cannot serve the range. Unlike {@link Fetcher.fetch}, the stream checks only the byte count
   * (`SIZE_MISMATCH`): bytes from an offset cannot be checked against the digest alone, so the caller
   * verifies the whole content, prefix included (as a {@link ResumablePusher} does), and the bytes are
   * hashed once. An offset equal to the size gives an empty stream.
   * @throws StowageError `INVALID_ARGUMENT` (an offset outside 0..size, or a manifest), `NOT_FOUND`, and
   *   what {@link Fetcher.fetch} throws.
   */
  fetchRange(desc: Descriptor, offset: number, options?: OperationOptions): Promise<RangeContent>;
}

/**
 * Where {@link ResumablePusher.pushResumable} gets the content: the bytes of the blob from `offset` on
 * (or, when the answer says offset 0, all of them).
 */
export type FetchFrom = (offset: number) => Promise<RangeContent>;

/** Optional: a destination that keeps the bytes of an interrupted write and continues it later. */
export interface ResumablePusher {
  /**
   * Stores `desc` as {@link Pusher.push} does, asking `fetchFrom` for the content: from the number of bytes it
   * kept of an earlier interrupted write of `desc` (0 when none), and from 0 again once when a resumed
   * write fails verification (the kept bytes were not a prefix of the content). The whole content is
   * verified before it becomes visible.
   * @throws StowageError as {@link Pusher.push}, and whatever `fetchFrom` throws.
   */
  pushResumable(desc: Descriptor, fetchFrom: FetchFrom, options?: OperationOptions): Promise<void>;
}

/**
 * Optional: a destination that can get ready for content it is about to be given, so that the work
 * overlaps the requests before it (a file store starts its hashing thread, ~35 ms to boot on 2 cores).
 * A hint: nothing fails when the content never comes.
 */
export interface Preparer {
  prepareFor(descs: readonly Descriptor[]): void;
}

/** Options of {@link FilePusher.pushFile}. */
export interface PushFileOptions extends OperationOptions {
  /** The blob's media type; default `application/vnd.oci.image.layer.v1.tar`. */
  mediaType?: string;
  /** Called once the file is opened, with its size, before any byte is read. */
  onStart?: (size: number) => void;
  /** Bytes of the file the destination has plus the ones in flight (it may move back after a failure). */
  onProgress?: (transferred: number) => void;
  /** Digests of files pushed before: an unchanged file the destination has is skipped without reading it. */
  digestCache?: DigestCache;
  /** Upload sessions kept between runs: an interrupted upload of the same file continues where it stopped. */
  sessions?: UploadSessions;
  /** Bytes per request of a chunked upload (registries). */
  chunkSize?: number;
  /** Blobs of a known digest up to this size go in one request (registries). */
  monolithicLimit?: number;
}

/** What {@link FilePusher.pushFile} did. */
export interface PushFileResult {
  /** The blob: media type, digest and size (no annotations). */
  descriptor: Descriptor;
  /** `exists`: the destination had it (nothing sent); `uploaded`: the bytes were sent. */
  outcome: 'exists' | 'uploaded';
  /** Bytes read from the file (0 when the digest cache and the destination made reading it unnecessary). */
  bytesRead: number;
  /** Bytes of the file sent to the destination (resent bytes count again). */
  bytesSent: number;
  /** The offset an earlier, interrupted upload was continued from (0 when none was). */
  resumedFrom: number;
}

/** Optional: store a local file as a blob reading it once, its digest computed on the way. */
export interface FilePusher {
  /**
   * Stores the regular file at `path` and returns its descriptor.
   * @throws StowageError `FILE_NOT_FOUND`, `INVALID_MEDIA_TYPE`, `IO`, `ABORTED`, and what the store's writes throw.
   */
  pushFile(path: string, options?: PushFileOptions): Promise<PushFileResult>;
}

/** Optional: delete a manifest or blob. */
export interface Deleter {
  delete(desc: Descriptor, options?: OperationOptions): Promise<void>;
}

export interface TagListOptions extends OperationOptions {
  /** Only tags after this one (distribution spec `last`). */
  last?: string;
}

/** Optional: list tags, page by page. */
export interface TagLister {
  tags(options?: TagListOptions): AsyncIterable<string[]>;
}

export interface ReferrersOptions extends OperationOptions {
  artifactType?: string;
}

/** Optional: list the manifests whose `subject` is `desc`, page by page. */
export interface ReferrerLister {
  referrers(desc: Descriptor, options?: ReferrersOptions): AsyncIterable<Descriptor[]>;
}

/** Optional: the nodes of the stored graph that point to `desc`. */
export interface PredecessorFinder {
  predecessors(desc: Descriptor, options?: OperationOptions): Promise<Descriptor[]>;
}

function hasMethod<K extends string>(value: unknown, name: K): value is Record<K, (...args: never[]) => unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[name] === 'function';
}

export function isReferencePusher(store: unknown): store is ReferencePusher {
  return hasMethod(store, 'pushReference');
}
export function isReferenceFetcher(store: unknown): store is ReferenceFetcher {
  return hasMethod(store, 'fetchReference');
}
export function isMounter(store: unknown): store is Mounter {
  return hasMethod(store, 'mount');
}
export function isDeleter(store: unknown): store is Deleter {
  return hasMethod(store, 'delete');
}
export function isTagLister(store: unknown): store is TagLister {
  return hasMethod(store, 'tags');
}
export function isReferrerLister(store: unknown): store is ReferrerLister {
  return hasMethod(store, 'referrers');
}
export function isPredecessorFinder(store: unknown): store is PredecessorFinder {
  return hasMethod(store, 'predecessors');
}
export function isFilePusher(store: unknown): store is FilePusher {
  return hasMethod(store, 'pushFile');
}
export function isRangeFetcher(store: unknown): store is RangeFetcher {
  return hasMethod(store, 'fetchRange');
}
export function isResumablePusher(store: unknown): store is ResumablePusher {
  return hasMethod(store, 'pushResumable');
}
export function isPreparer(store: unknown): store is Preparer {
  return hasMethod(store, 'prepareFor');
}

/** The documents stowage reads into memory are capped at this size (manifests, indexes, configs): 4 MiB. */
export const maxManifestBytes = 4 * 1024 * 1024;

/**
 * Reads a stream into memory, failing once more than `limit` bytes arrive.
 * @throws StowageError `TOO_LARGE`, or whatever the stream fails with.
 */
export async function readAll(stream: Readable, limit: number, what: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk) : Buffer.from(String(chunk));
    total += buffer.byteLength;
    if (total > limit) {
      stream.destroy();
      throw new StowageError('TOO_LARGE', `${what}: larger than the ${limit}-byte limit`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Fetches content into memory (a manifest, a config), refusing descriptors over `limit` before any I/O.
 * @throws StowageError `TOO_LARGE`, `NOT_FOUND`, `SIZE_MISMATCH`, `DIGEST_MISMATCH`.
 */
export async function fetchBytes(store: Fetcher, desc: Descriptor, options: OperationOptions & { limit?: number } = {}): Promise<Uint8Array> {
  const limit = options.limit ?? maxManifestBytes;
  if (desc.size > limit) {
    throw new StowageError('TOO_LARGE', `${desc.digest}: ${desc.size} bytes is over the ${limit}-byte limit for documents read into memory`);
  }
  const fetchOptions: OperationOptions = options.signal === undefined ? {} : { signal: options.signal };
  return readAll(await store.fetch(desc, fetchOptions), limit, desc.digest);
}

/**
 * A stream that can also hand its chunks straight to a function, bypassing its buffer (a registry's
 * response body can: `ResponseBody.drainTo`). Readers of large content use it when it is there.
 */
export interface Drainable {
  /** Calls `take` with each chunk in order, waiting on a promise it returns; settles at the end. */
  drainTo(take: (chunk: Buffer) => void | Promise<void>): Promise<void>;
}

/** A stream that reports the size of each chunk as it arrives, however it is read (a registry's response body does). */
export interface Tappable {
  tap(listener: (bytes: number) => void): void;
}

/** True when `content` has {@link Tappable.tap}. */
export function isTappable(content: Readable): content is Readable & Tappable {
  return hasMethod(content, 'tap');
}

/** True when `content` has {@link Drainable.drainTo}. */
export function isDrainable(content: Readable): content is Readable & Drainable {
  return hasMethod(content, 'drainTo');
}

/** Content as a stream. */
export function toReadable(content: Content): Readable {
  return content instanceof Uint8Array ? Readable.from([Buffer.from(content.buffer, content.byteOffset, content.byteLength)]) : content;
}
