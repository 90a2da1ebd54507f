/**
 * The store contract: small interfaces composed, in the spirit of oras-go. `copy()` and the packers know
 * only these, so registry, OCI layout, memory and files are one algorithm.
 *
 * References passed to `resolve` and `tag` are what follows the repository: a tag or a digest.
 */
import { Readable } from 'node:stream';
import { StowageError } from '../errors.js';
import type { Descriptor } from '../oci/schemas.js';

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
  /** Returns true when mounted; false when the registry wants the bytes uploaded instead. */
  mount(desc: Descriptor, fromRepository: string, options?: OperationOptions): Promise<boolean>;
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

/** Content as a stream. */
export function toReadable(content: Content): Readable {
  return content instanceof Uint8Array ? Readable.from([Buffer.from(content.buffer, content.byteOffset, content.byteLength)]) : content;
}
