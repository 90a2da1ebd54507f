/** A store held in memory: for tests, for building a graph before pushing it, and as a copy cache. */
import { Readable } from 'node:stream';
import { StowageError, throwIfAborted } from '../errors.js';
import { isValidDigest, parseDigest } from '../oci/digest.js';
import { isManifestMediaType } from '../oci/media-types.js';
import { isValidTag } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import { linksTo, manifestLinks, type ManifestLinks } from './manifest-links.js';
import { discardContent, readVerified } from './read-verified.js';
import { referrersAmong } from './referrers.js';
import {
  maxManifestBytes,
  type Content,
  type Deleter,
  type OperationOptions,
  type PredecessorFinder,
  type ReferrerLister,
  type ReferrersOptions,
  type TagListOptions,
  type TagLister,
  type Target,
} from './store.js';

interface StoredManifest {
  descriptor: Descriptor;
  links: ManifestLinks;
}

/**
 * A {@link Target} in memory, with {@link Deleter}, {@link TagLister}, {@link PredecessorFinder} and
 * {@link ReferrerLister}.
 * Content is verified on push; manifests are parsed on push so the graph can be walked backwards.
 */
export class MemoryStore implements Target, Deleter, TagLister, PredecessorFinder, ReferrerLister {
  /** Content by digest. */
  private readonly blobs = new Map<string, Buffer>();
  /** Every manifest pushed, by digest, whether tagged or not. */
  private readonly manifests = new Map<string, StoredManifest>();
  private readonly tagMap = new Map<string, Descriptor>();

  /**
   * Streams the content `desc` addresses.
   * @throws StowageError `NOT_FOUND`, `SIZE_MISMATCH` (desc has another size than the content),
   *   `INVALID_DIGEST`, `ABORTED`.
   */
  fetch(desc: Descriptor, options: OperationOptions = {}): Promise<Readable> {
    return settle(() => {
      const what = `fetch ${desc.digest}`;
      throwIfAborted(options.signal, what);
      parseDigest(desc.digest);
      const bytes = this.blobs.get(desc.digest);
      if (bytes === undefined) throw new StowageError('NOT_FOUND', `${what}: not found in the memory store`);
      if (bytes.byteLength !== desc.size) {
        throw new StowageError('SIZE_MISMATCH', `${what}: stored content has ${bytes.byteLength} bytes, the descriptor says ${desc.size}`);
      }
      return Readable.from([bytes], { objectMode: false });
    });
  }

  /** True when content with `desc.digest` (and `desc.size`) is stored. */
  exists(desc: Descriptor, options: OperationOptions = {}): Promise<boolean> {
    return settle(() => {
      throwIfAborted(options.signal, `exists ${desc.digest}`);
      return this.blobs.get(desc.digest)?.byteLength === desc.size;
    });
  }

  /**
   * Stores `content` after checking size and digest; manifests are also parsed and remembered.
   * Pushing content that is already stored is a no-op (the stream is discarded unread).
   * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_DIGEST`, `INVALID_MANIFEST` and
   *   `INVALID_MEDIA_TYPE` (a manifest that does not parse), `TOO_LARGE` (a manifest over 4 MiB), `ABORTED`.
   */
  async push(desc: Descriptor, content: Content, options: OperationOptions = {}): Promise<void> {
    const what = `push ${desc.digest}`;
    try {
      parseDigest(desc.digest);
    } catch (error) {
      discardContent(content);
      throw error;
    }
    const isManifest = isManifestMediaType(desc.mediaType);
    if (this.blobs.has(desc.digest) && (!isManifest || this.manifests.has(desc.digest))) {
      throwIfAborted(options.signal, what);
      discardContent(content);
      return;
    }
    if (isManifest && desc.size > maxManifestBytes) {
      discardContent(content);
      throw new StowageError('TOO_LARGE', `${what}: a ${desc.size}-byte manifest is over the ${maxManifestBytes}-byte limit`);
    }
    const bytes = await readVerified(content, desc, what, options);
    if (isManifest) {
      const links = manifestLinks(bytes, desc.mediaType, what);
      this.manifests.set(desc.digest, { descriptor: plainDescriptor(desc), links });
    }
    if (!this.blobs.has(desc.digest)) this.blobs.set(desc.digest, bytes);
  }

  /**
   * The descriptor a tag points to, or of the manifest with a digest.
   * @throws StowageError `NOT_FOUND`.
   */
  resolve(reference: string, options: OperationOptions = {}): Promise<Descriptor> {
    return settle(() => {
      const what = `resolve ${reference}`;
      throwIfAborted(options.signal, what);
      const found = isValidDigest(reference) ? this.manifests.get(reference)?.descriptor : this.tagMap.get(reference);
      if (found === undefined) throw new StowageError('NOT_FOUND', `${what}: not found in the memory store`);
      return { ...found };
    });
  }

  /**
   * Points `reference` at `desc`, moving the tag when it pointed elsewhere. Tagging a manifest with its own
   * digest is accepted and changes nothing.
   * @throws StowageError `INVALID_REFERENCE` (not a valid tag), `NOT_FOUND` (the content is not stored).
   */
  tag(desc: Descriptor, reference: string, options: OperationOptions = {}): Promise<void> {
    return settle(() => {
      const what = `tag ${desc.digest} as ${reference}`;
      throwIfAborted(options.signal, what);
      const byDigest = reference === desc.digest;
      if (!byDigest && !isValidTag(reference)) throw new StowageError('INVALID_REFERENCE', `${what}: "${reference}" is not a valid tag`);
      if (this.blobs.get(desc.digest)?.byteLength !== desc.size) {
        throw new StowageError('NOT_FOUND', `${what}: ${desc.digest} is not in the memory store`);
      }
      if (!byDigest) this.tagMap.set(reference, plainDescriptor(desc));
    });
  }

  /**
   * Deletes content; a manifest also loses its tags and its place in the graph.
   * @throws StowageError `NOT_FOUND`.
   */
  delete(desc: Descriptor, options: OperationOptions = {}): Promise<void> {
    return settle(() => {
      const what = `delete ${desc.digest}`;
      throwIfAborted(options.signal, what);
      if (!this.blobs.delete(desc.digest)) throw new StowageError('NOT_FOUND', `${what}: not found in the memory store`);
      this.manifests.delete(desc.digest);
      for (const [tag, tagged] of this.tagMap) {
        if (tagged.digest === desc.digest) this.tagMap.delete(tag);
      }
    });
  }

  /** The tags, sorted, as one page; with `last`, only the tags after it. */
  async *tags(options: TagListOptions = {}): AsyncIterable<string[]> {
    throwIfAborted(options.signal, 'list tags');
    const { last } = options;
    const sorted = [...this.tagMap.keys()].sort();
    await Promise.resolve();
    yield last === undefined ? sorted : sorted.filter((tag) => tag > last);
  }

  /** The manifests that point to `desc` (as config, layer, index entry, artifact blob or subject). */
  predecessors(desc: Descriptor, options: OperationOptions = {}): Promise<Descriptor[]> {
    return settle(() => {
      throwIfAborted(options.signal, `predecessors of ${desc.digest}`);
      const found: Descriptor[] = [];
      for (const manifest of this.manifests.values()) {
        if (linksTo(manifest.links, desc.digest)) found.push({ ...manifest.descriptor });
      }
      return found;
    });
  }

  /**
   * The manifests whose `subject` is `desc`, from the stored graph, as one page of referrer descriptors
   * (artifact type and annotations copied in), optionally of one artifact type.
   * @throws StowageError `ABORTED`.
   */
  async *referrers(desc: Descriptor, options: ReferrersOptions = {}): AsyncIterable<Descriptor[]> {
    throwIfAborted(options.signal, `list referrers of ${desc.digest}`);
    const candidates = [...this.manifests.values()].filter((manifest) => manifest.links.subject?.digest === desc.digest).map((manifest) => manifest.descriptor);
    yield await referrersAmong(this, desc, candidates, options);
  }
}

/** Runs synchronous work as a promise, so that what it throws becomes a rejection. */
function settle<T>(work: () => T): Promise<T> {
  return new Promise<T>((resolve) => {
    resolve(work());
  });
}

/** A descriptor without embedded `data` (the store holds the bytes). */
function plainDescriptor(desc: Descriptor): Descriptor {
  const { data: _data, ...rest } = desc;
  return rest;
}
