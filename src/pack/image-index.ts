/**
 * Image indexes from manifests of one store (`manifest index create` and `manifest index update`): each
 * entry carries the platform its image config declares and the manifest's artifact type, as ORAS 1.3 writes them.
 */
import { isStowageError, StowageError } from '../errors.js';
import { digestOf, isValidDigest } from '../oci/digest.js';
import { orderedDescriptor, orderedPlatform } from '../oci/json-format.js';
import { isIndexMediaType, MediaType } from '../oci/media-types.js';
import { imageConfigSchema, parseJson, parseManifest, platformSchema, type Descriptor, type ImageIndex } from '../oci/schemas.js';
import { fetchBytes, type OperationOptions, type ReadOnlyTarget } from '../content/store.js';

/** An index as packed: its descriptor and the exact bytes. */
export interface PackedIndex {
  descriptor: Descriptor;
  bytes: Uint8Array;
  index: ImageIndex;
}

/** Hooks of {@link createIndex} and {@link updateIndex}: what was fetched, added, removed, merged. */
export interface IndexHooks {
  onFetched?: (reference: string, desc: Descriptor) => void;
  onAdded?: (reference: string, desc: Descriptor) => void;
  onRemoved?: (digest: string) => void;
  onMerged?: (reference: string, desc: Descriptor) => void;
}

/**
 * The index entry for the manifest `reference` names in `store`: media type, digest and size, the platform
 * of an image config (`os`, `architecture`, `variant`, `os.version`, `os.features`), the manifest's `artifactType`.
 * @throws StowageError `NOT_FOUND`, `INVALID_MANIFEST`, and what the store throws.
 */
export async function indexEntryOf(store: ReadOnlyTarget, reference: string, options: OperationOptions = {}): Promise<Descriptor> {
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  let desc: Descriptor;
  try {
    desc = await store.resolve(reference, signalOption);
  } catch (error) {
    if (isStowageError(error, 'NOT_FOUND')) throw new StowageError('NOT_FOUND', `could not find the manifest ${reference}`, { cause: error });
    throw error;
  }
  const bytes = await fetchBytes(store, desc, signalOption);
  const parsed = parseManifest(bytes, desc.mediaType, reference);
  const entry: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
  if (parsed.kind === 'index') {
    if (parsed.index.artifactType !== undefined) entry.artifactType = parsed.index.artifactType;
    return orderedDescriptor(entry);
  }
  const config = parsed.manifest.config;
  if (config.mediaType === MediaType.ociConfig || config.mediaType === MediaType.dockerConfig) {
    const document = parseJson(imageConfigSchema, await fetchBytes(store, config, signalOption), config.digest);
    const platform = platformSchema.safeParse(document);
    if (platform.success) {
      const { architecture, os, 'os.version': osVersion, 'os.features': osFeatures, variant } = platform.data;
      entry.platform = orderedPlatform({
        architecture,
        os,
        ...(osVersion === undefined ? {} : { 'os.version': osVersion }),
        ...(osFeatures === undefined ? {} : { 'os.features': osFeatures }),
        ...(variant === undefined ? {} : { variant }),
      });
    }
  }
  if (parsed.manifest.artifactType !== undefined) entry.artifactType = parsed.manifest.artifactType;
  return orderedDescriptor(entry);
}

/** Options of {@link packIndex}. */
export interface PackIndexOptions {
  manifests: readonly Descriptor[];
  artifactType?: string | undefined;
  annotations?: Record<string, string> | undefined;
  subject?: Descriptor | undefined;
}

/** An OCI image index's bytes (fields in the image spec's order, annotations sorted) and descriptor. */
export function packIndex(options: PackIndexOptions): PackedIndex {
  const annotations = options.annotations ?? {};
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    ...(options.artifactType === undefined || options.artifactType === '' ? {} : { artifactType: options.artifactType }),
    manifests: options.manifests.map(orderedDescriptor),
    ...(options.subject === undefined ? {} : { subject: orderedDescriptor(options.subject) }),
    ...(Object.keys(annotations).length === 0 ? {} : { annotations: Object.fromEntries(Object.keys(annotations).sort().map((key) => [key, annotations[key] ?? ''])) }),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(index));
  return { index, bytes, descriptor: { mediaType: MediaType.ociIndex, digest: digestOf(bytes), size: bytes.byteLength } };
}

/** Options of {@link createIndex}. */
export interface CreateIndexOptions extends OperationOptions, IndexHooks {
  artifactType?: string | undefined;
  annotations?: Record<string, string> | undefined;
}

/**
 * Packs an index of the manifests `sources` (tags or digests of `store`) name, in that order.
 * @throws StowageError as {@link indexEntryOf}.
 */
export async function createIndex(store: ReadOnlyTarget, sources: readonly string[], options: CreateIndexOptions = {}): Promise<PackedIndex> {
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  const manifests: Descriptor[] = [];
  for (const source of sources) {
    const entry = await indexEntryOf(store, source, signalOption);
    options.onFetched?.(source, entry);
    manifests.push(entry);
  }
  return packIndex({ manifests, artifactType: options.artifactType, annotations: options.annotations });
}

/** Options of {@link updateIndex}. */
export interface UpdateIndexOptions extends OperationOptions, IndexHooks {
  /** Manifests (tags or digests) to add. */
  add?: readonly string[];
  /** Digests of entries to remove (every entry with that digest). */
  remove?: readonly string[];
  /** Indexes (tags or digests) whose entries are appended. */
  merge?: readonly string[];
  /** A new artifact type; `''` removes it; undefined keeps it. */
  artifactType?: string | undefined;
}

/**
 * Packs a new version of the index `reference` names: entries removed, then added, then merged from other
 * indexes (in that order, duplicates kept, as ORAS does). The index's annotations and subject are kept.
 * @throws StowageError `INVALID_MEDIA_TYPE` (not an index), `INVALID_ARGUMENT` (a --remove that is not a
 *   digest), `NOT_FOUND` (a digest to remove that is not in the index, a manifest to add that does not
 *   exist), and what the store throws.
 */
export async function updateIndex(store: ReadOnlyTarget, reference: string, options: UpdateIndexOptions = {}): Promise<PackedIndex> {
  const signalOption = options.signal === undefined ? {} : { signal: options.signal };
  const readIndex = async (ref: string): Promise<{ desc: Descriptor; index: ImageIndex }> => {
    const desc = await store.resolve(ref, signalOption);
    if (!isIndexMediaType(desc.mediaType)) throw new StowageError('INVALID_MEDIA_TYPE', `${ref} is not an index (${desc.mediaType})`);
    const parsed = parseManifest(await fetchBytes(store, desc, signalOption), desc.mediaType, ref);
    if (parsed.kind !== 'index') throw new StowageError('INVALID_MEDIA_TYPE', `${ref} is not an index`);
    return { desc, index: parsed.index };
  };
  for (const digest of options.remove ?? []) {
    if (!isValidDigest(digest)) throw new StowageError('INVALID_ARGUMENT', `remove: ${digest} is not a digest`);
  }
  const { desc, index } = await readIndex(reference);
  options.onFetched?.(reference, desc);
  let manifests = [...index.manifests];
  for (const digest of options.remove ?? []) {
    if (!manifests.some((entry) => entry.digest === digest)) throw new StowageError('NOT_FOUND', `${digest} does not exist in the index ${reference}`);
    manifests = manifests.filter((entry) => entry.digest !== digest);
    options.onRemoved?.(digest);
  }
  for (const source of options.add ?? []) {
    const entry = await indexEntryOf(store, source, signalOption);
    options.onFetched?.(source, entry);
    manifests.push(entry);
    options.onAdded?.(source, entry);
  }
  for (const source of options.merge ?? []) {
    const merged = await readIndex(source);
    options.onFetched?.(source, merged.desc);
    manifests.push(...merged.index.manifests);
    options.onMerged?.(source, merged.desc);
  }
  return packIndex({
    manifests,
    artifactType: options.artifactType ?? index.artifactType,
    annotations: index.annotations,
    subject: index.subject,
  });
}
