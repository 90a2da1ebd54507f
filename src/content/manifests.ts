/**
 * Manifests and blobs one at a time (the `manifest` and `blob` commands): fetch a manifest by reference with
 * accepted media types and a platform, fetch its config, push manifest bytes as given, and the optional
 * capabilities to resolve a blob by digest and push a blob from a stream whose digest is not known yet.
 */
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { isStowageError, StowageError } from '../errors.js';
import { digestOf, parseDigest } from '../oci/digest.js';
import { isManifestMediaType, isValidMediaType } from '../oci/media-types.js';
import { parsePlatform } from '../oci/platform.js';
import { parseJson, parseManifest, type Descriptor } from '../oci/schemas.js';
import { selectPlatform } from './select-platform.js';
import {
  fetchBytes,
  isReferenceFetcher,
  isReferencePusher,
  maxManifestBytes,
  readAll,
  type OperationOptions,
  type ReadOnlyTarget,
  type Target,
} from './store.js';
import { tagAll } from '../copy/copy.js';

/** Optional: the descriptor of a blob known only by digest (its size, from the store). */
export interface BlobResolver {
  /** @throws StowageError `NOT_FOUND`, `INVALID_DIGEST`. */
  resolveBlob(digest: string, options?: OperationOptions): Promise<Descriptor>;
}

/** Options of {@link StreamPusher.pushStream}. */
export interface PushStreamOptions extends OperationOptions {
  /** The digest the bytes must have; without it, it is computed as they are stored. */
  digest?: string;
  /** The descriptor's media type (default `application/vnd.oci.image.layer.v1.tar`). */
  mediaType?: string;
}

/** Optional: store a blob from a stream of known size, read once, its digest computed on the way. */
export interface StreamPusher {
  /** @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_ARGUMENT`, `IO`, `ABORTED`. */
  pushStream(content: Readable, size: number, options?: PushStreamOptions): Promise<Descriptor>;
}

export function isBlobResolver(store: unknown): store is BlobResolver {
  return typeof store === 'object' && store !== null && typeof (store as Record<string, unknown>).resolveBlob === 'function';
}

export function isStreamPusher(store: unknown): store is StreamPusher {
  return typeof store === 'object' && store !== null && typeof (store as Record<string, unknown>).pushStream === 'function';
}

/** Options of {@link fetchManifest}. */
export interface FetchManifestOptions extends OperationOptions {
  /** Accept only these media types (a registry is asked for them in `Accept`); default: any manifest. */
  mediaTypes?: readonly string[];
  /** When the reference is an index: the manifest of this platform (`os[/arch][/variant][:os_version]`). */
  platform?: string;
  /** How messages name the reference (default: the reference). */
  display?: string;
}

/** A manifest as fetched: its descriptor and its bytes, exactly as stored. */
export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Uint8Array;
}

/**
 * Fetches the manifest a tag or digest names (at most 4 MiB): in one request from a store that can
 * ({@link ReferenceFetcher}), else resolve and fetch. With `platform`, the manifest of that platform under
 * an index (or the manifest itself when its config says it is of that platform).
 * @throws StowageError `NOT_FOUND` (no such manifest, or none of that platform), `INVALID_MEDIA_TYPE` (not
 *   one of `mediaTypes`), `INVALID_ARGUMENT` (a malformed platform), `TOO_LARGE`, `INVALID_MANIFEST`, and
 *   what the store throws.
 */
export async function fetchManifest(store: ReadOnlyTarget, reference: string, options: FetchManifestOptions = {}): Promise<FetchedManifest> {
  const what = options.display ?? reference;
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  const selector = options.platform === undefined ? undefined : parsePlatform(options.platform);
  const accepted = options.mediaTypes !== undefined && options.mediaTypes.length > 0 ? options.mediaTypes : undefined;
  for (const mediaType of accepted ?? []) {
    if (!isValidMediaType(mediaType)) throw new StowageError('INVALID_ARGUMENT', `invalid media type "${mediaType}"`);
  }
  let fetched: FetchedManifest;
  if (selector !== undefined) {
    const root = await store.resolve(reference, signalOption);
    const descriptor = await selectPlatform(store, root, selector, what, signalOption);
    fetched = { descriptor, bytes: await fetchBytes(store, descriptor, signalOption) };
  } else if (isReferenceFetcher(store)) {
    const fetchOptions = { ...signalOption, ...(accepted === undefined ? {} : { mediaTypes: accepted }) };
    const { descriptor, content } = await store.fetchReference(reference, fetchOptions);
    fetched = { descriptor, bytes: await readAll(content, maxManifestBytes, what) };
  } else {
    const descriptor = await store.resolve(reference, signalOption);
    if (!isManifestMediaType(descriptor.mediaType)) throw new StowageError('NOT_FOUND', `${what}: not a manifest (${descriptor.mediaType})`);
    fetched = { descriptor, bytes: await fetchBytes(store, descriptor, signalOption) };
  }
  if (accepted !== undefined && !accepted.includes(fetched.descriptor.mediaType)) {
    throw new StowageError('INVALID_MEDIA_TYPE', `${what}: the manifest is ${fetched.descriptor.mediaType}, not ${accepted.join(' or ')}`);
  }
  return fetched;
}

/**
 * The config descriptor of the image manifest a reference names (with `platform`, of that platform's manifest).
 * @throws StowageError `INVALID_MEDIA_TYPE` (an index, and no platform chosen), and as {@link fetchManifest}.
 */
export async function fetchManifestConfig(store: ReadOnlyTarget, reference: string, options: FetchManifestOptions = {}): Promise<{ manifest: Descriptor; config: Descriptor }> {
  const what = options.display ?? reference;
  const { descriptor, bytes } = await fetchManifest(store, reference, options);
  const parsed = parseManifest(bytes, descriptor.mediaType, what);
  if (parsed.kind === 'index') {
    throw new StowageError('INVALID_MEDIA_TYPE', `${what}: an index has no config; choose a manifest with --platform`);
  }
  return { manifest: descriptor, config: parsed.manifest.config };
}

const mediaTypeField = z.looseObject({ mediaType: z.unknown().optional() });

/** Options of {@link pushManifest}. */
export interface PushManifestOptions extends OperationOptions {
  /** The manifest's media type; default: its `mediaType` field. */
  mediaType?: string;
  /** A digest the bytes must have (the reference named one). */
  digest?: string;
  /** Tags to point at it: the first is pushed to directly (registries PUT under it), the others tagged after. */
  tags?: readonly string[];
  /** How messages name the destination. */
  display?: string;
}

/** What {@link pushManifest} did. */
export interface PushedManifest {
  descriptor: Descriptor;
  /** True when the store had the manifest already and nothing was sent but tags. */
  existed: boolean;
}

/**
 * Pushes manifest bytes as they are (the digest is over these bytes): checks the size (4 MiB), that they are
 * a JSON object, the media type (`options.mediaType`, else the `mediaType` field; both must agree when both
 * are there), and for OCI and Docker manifest and index types their schema, before anything is sent.
 * @throws StowageError `TOO_LARGE`, `INVALID_MANIFEST`, `INVALID_MEDIA_TYPE`, `DIGEST_MISMATCH` (not the
 *   digest asked for), and what the store throws.
 */
export async function pushManifest(store: Target, bytes: Uint8Array, options: PushManifestOptions = {}): Promise<PushedManifest> {
  const what = `push manifest to ${options.display ?? 'the target'}`;
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  if (bytes.byteLength > maxManifestBytes) {
    throw new StowageError('TOO_LARGE', `${what}: ${bytes.byteLength} bytes is over the ${maxManifestBytes}-byte limit for manifests`);
  }
  const document = parseJson(mediaTypeField, bytes, what);
  const field = typeof document.mediaType === 'string' ? document.mediaType : undefined;
  const mediaType = options.mediaType ?? field;
  if (mediaType === undefined) {
    throw new StowageError('INVALID_MEDIA_TYPE', `${what}: no media type: give --media-type, or a "mediaType" field in the manifest`);
  }
  if (!isValidMediaType(mediaType)) throw new StowageError('INVALID_MEDIA_TYPE', `${what}: invalid media type "${mediaType}"`);
  if (field !== undefined && field !== mediaType) {
    throw new StowageError('INVALID_MEDIA_TYPE', `${what}: the manifest says its media type is ${field}, not ${mediaType}`);
  }
  if (!isManifestMediaType(mediaType)) throw new StowageError('INVALID_MEDIA_TYPE', `${what}: ${mediaType} is not a manifest media type`);
  if (mediaType !== 'application/vnd.oci.artifact.manifest.v1+json') parseManifest(bytes, mediaType, what);
  const algorithm = options.digest === undefined ? 'sha256' : parseDigest(options.digest).algorithm;
  const descriptor: Descriptor = { mediaType, digest: digestOf(bytes, algorithm), size: bytes.byteLength };
  if (options.digest !== undefined && options.digest !== descriptor.digest) {
    throw new StowageError('DIGEST_MISMATCH', `${what}: the manifest's digest is ${descriptor.digest}, not ${options.digest}`);
  }
  const tags = [...(options.tags ?? [])];
  const [first, ...rest] = tags;
  let existed = false;
  if (first !== undefined && isReferencePusher(store)) {
    await store.pushReference(descriptor, bytes, first, signalOption);
    if (rest.length > 0) await tagAll(store, descriptor, rest, signalOption);
    return { descriptor, existed };
  }
  existed = await store.exists(descriptor, signalOption);
  if (!existed) await store.push(descriptor, bytes, signalOption);
  if (tags.length > 0) await tagAll(store, descriptor, tags, signalOption);
  return { descriptor, existed };
}

/**
 * The descriptor of the manifest a tag or digest names, for deleting it (a registry deletes by digest only),
 * or undefined when there is none.
 * @throws what the store's `resolve` throws, except `NOT_FOUND`.
 */
export async function resolveIfExists(store: ReadOnlyTarget, reference: string, options: OperationOptions = {}): Promise<Descriptor | undefined> {
  try {
    return await store.resolve(reference, options);
  } catch (error) {
    if (isStowageError(error, 'NOT_FOUND')) return undefined;
    throw error;
  }
}
