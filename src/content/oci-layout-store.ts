/**
 * An OCI image layout directory (image spec, image-layout.md): `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.
 * Blobs are written to `ingest/` and renamed into `blobs/` once verified; index.json is rewritten atomically
 * under a lock file, so several processes can push and tag into one layout without losing entries.
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { z } from 'zod';
import { abortError, describeError, isStowageError, StowageError, throwIfAborted } from '../errors.js';
import { Hasher, isValidDigest, parseDigest, verifyBytes, verifyingStream } from '../oci/digest.js';
import { Annotation, isManifestMediaType, MediaType } from '../oci/media-types.js';
import { isValidTag } from '../oci/reference.js';
import { imageIndexSchema, mediaTypeSchema, ociLayoutFileSchema, parseJson, type Descriptor, type ImageIndex } from '../oci/schemas.js';
import { acquireFileLock, defaultStaleLockMs, errnoCode } from './file-lock.js';
import { linksTo, manifestLinks, type ManifestLinks } from './manifest-links.js';
import { discardContent, forEachVerifiedChunk, readVerified } from './read-verified.js';
import { referrersAmong } from './referrers.js';
import {
  fetchBytes,
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

/** The `imageLayoutVersion` stowage writes. */
export const imageLayoutVersion = '1.0.0';

/** Files are read and written in chunks of at least this size: 1 MiB. */
const chunkBytes = 1024 * 1024;

/** Options of {@link OciLayoutStore.open}. */
export interface OciLayoutOpenOptions extends OperationOptions {
  /** Create the directory, `oci-layout`, `index.json` and `blobs/` when missing. */
  create?: boolean;
  /** A lock on index.json older than this many milliseconds is taken over (default 30 s). */
  staleLockMs?: number;
}

/** Any layout version 1.x.y can be read: the spec promises compatible minor versions. */
const supportedLayoutVersion = /^1\.[0-9]+\.[0-9]+$/;

/** Only the `mediaType` field, to tell whether an unlisted blob is a manifest. */
const mediaTypeFieldSchema = z.looseObject({ mediaType: mediaTypeSchema });

/**
 * A {@link Target} on an OCI image layout directory, with {@link Deleter}, {@link TagLister},
 * {@link PredecessorFinder} and {@link ReferrerLister}. Open one with {@link OciLayoutStore.open}.
 *
 * Like ORAS, every manifest pushed is listed in index.json: with `org.opencontainers.image.ref.name` when
 * tagged, without it otherwise, so that untagged manifests and referrers can be found.
 */
export class OciLayoutStore implements Target, Deleter, TagLister, PredecessorFinder, ReferrerLister {
  /** The absolute path of the layout directory. */
  readonly directory: string;
  private readonly staleLockMs: number;
  /** Parsed manifest edges by digest (content-addressed, so never stale). */
  private readonly linkCache = new Map<string, ManifestLinks>();

  private constructor(directory: string, staleLockMs: number) {
    this.directory = directory;
    this.staleLockMs = staleLockMs;
  }

  /**
   * Opens the layout in `dir`, checking `oci-layout` and `index.json`; with `create`, creates what is missing.
   * @throws StowageError `NOT_FOUND` (no such directory and `create` not set), `INVALID_LAYOUT` (not a
   *   directory, missing or malformed `oci-layout` or `index.json`, unsupported layout version), `IO`, `ABORTED`.
   */
  static async open(dir: string, options: OciLayoutOpenOptions = {}): Promise<OciLayoutStore> {
    const what = `open OCI layout ${dir}`;
    const { signal } = options;
    throwIfAborted(signal, what);
    const store = new OciLayoutStore(path.resolve(dir), options.staleLockMs ?? defaultStaleLockMs);
    await store.guard(what, async () => {
      const found = await statOrUndefined(store.directory);
      if (found === undefined) {
        if (options.create !== true) throw new StowageError('NOT_FOUND', `${what}: the directory does not exist`);
        await mkdir(store.directory, { recursive: true });
      } else if (!found.isDirectory()) {
        throw new StowageError('INVALID_LAYOUT', `${what}: not a directory`);
      }
      await store.checkOrCreate(what, options.create === true, signal);
    });
    return store;
  }

  /**
   * Streams a blob, verified against `desc` as it is read.
   * @throws StowageError `NOT_FOUND`, `SIZE_MISMATCH` (the file has another size), `INVALID_DIGEST`, `IO`,
   *   `ABORTED`; the stream fails with `DIGEST_MISMATCH` when the file's bytes are corrupt.
   */
  async fetch(desc: Descriptor, options: OperationOptions = {}): Promise<Readable> {
    const what = `fetch ${desc.digest} from OCI layout ${this.directory}`;
    const { signal } = options;
    const file = this.blobPath(desc.digest);
    throwIfAborted(signal, what);
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new StowageError('NOT_FOUND', `${what}: blob not found`, { cause: error });
      throw ioError(what, error);
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new StowageError('NOT_FOUND', `${what}: blob not found (${file} is not a file)`);
      if (stats.size !== desc.size) {
        throw new StowageError('SIZE_MISMATCH', `${what}: the blob has ${stats.size} bytes, the descriptor says ${desc.size}`);
      }
    } catch (error) {
      await handle.close();
      throw isStowageError(error) ? error : ioError(what, error);
    }
    const source = handle.createReadStream({ highWaterMark: chunkBytes });
    const verified = verifyingStream(desc, what);
    source.on('error', (error) => verified.destroy(ioError(what, error)));
    verified.on('close', () => {
      source.destroy();
      signal?.removeEventListener('abort', onAbort);
    });
    const onAbort = (): void => {
      verified.destroy(abortError(signal, what));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted === true) onAbort();
    return source.pipe(verified);
  }

  /** True when the blob exists with `desc.size` bytes. @throws StowageError `INVALID_DIGEST`, `IO`. */
  async exists(desc: Descriptor, options: OperationOptions = {}): Promise<boolean> {
    const what = `check ${desc.digest} in OCI layout ${this.directory}`;
    throwIfAborted(options.signal, what);
    const file = this.blobPath(desc.digest);
    return this.guard(what, async () => {
      const found = await statOrUndefined(file);
      return found?.isFile() === true && found.size === desc.size;
    });
  }

  /**
   * Writes a blob: streamed to a temp file under `ingest/`, verified, then renamed into `blobs/`. A failed
   * or cancelled push leaves no temp file; a blob that exists is not rewritten. A manifest (by media type)
   * is parsed first and then listed in index.json (untagged, unless already listed).
   * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_DIGEST`, `INVALID_MANIFEST` and
   *   `INVALID_MEDIA_TYPE` (a manifest that does not parse), `TOO_LARGE` (a manifest over 4 MiB),
   *   `INVALID_LAYOUT` (index.json became malformed), `IO`, `ABORTED`.
   */
  async push(desc: Descriptor, content: Content, options: OperationOptions = {}): Promise<void> {
    const what = `push ${desc.digest} to OCI layout ${this.directory}`;
    const { signal } = options;
    let file: string;
    try {
      file = this.blobPath(desc.digest);
    } catch (error) {
      discardContent(content);
      throw error;
    }
    const isManifest = isManifestMediaType(desc.mediaType);
    await this.guard(what, async () => {
      const found = await statOrUndefined(file);
      if (found?.isFile() === true && found.size === desc.size) {
        discardContent(content);
        throwIfAborted(signal, what);
      } else if (isManifest) {
        if (desc.size > maxManifestBytes) {
          discardContent(content);
          throw new StowageError('TOO_LARGE', `${what}: a ${desc.size}-byte manifest is over the ${maxManifestBytes}-byte limit`);
        }
        const bytes = await readVerified(content, desc, what, options);
        this.linkCache.set(desc.digest, manifestLinks(bytes, desc.mediaType, what));
        await this.writeBlob(file, bytes, desc, what, options);
      } else {
        await this.writeBlob(file, content, desc, what, options);
      }
      if (isManifest) {
        await this.updateIndex(what, signal, (index) => {
          if (index.manifests.some((entry) => entry.digest === desc.digest)) return false;
          index.manifests.push(indexEntry(desc));
          return true;
        });
      }
    });
  }

  /**
   * The descriptor a tag points to (the index.json entry with that `ref.name`, without the annotation), or
   * of a manifest by digest: listed in index.json, or else a blob whose JSON has a manifest `mediaType`.
   * @throws StowageError `NOT_FOUND`, `INVALID_LAYOUT`, `INVALID_MANIFEST` (an unlisted blob that claims a
   *   manifest media type and does not parse), `DIGEST_MISMATCH` (a corrupt blob), `IO`, `ABORTED`.
   */
  async resolve(reference: string, options: OperationOptions = {}): Promise<Descriptor> {
    const what = `resolve ${reference} in OCI layout ${this.directory}`;
    const { signal } = options;
    throwIfAborted(signal, what);
    return this.guard(what, async () => {
      const index = await this.readIndex(what);
      if (!isValidDigest(reference)) {
        const tagged = index.manifests.filter((entry) => refNameOf(entry) === reference).at(-1);
        if (tagged === undefined) throw new StowageError('NOT_FOUND', `${what}: no such tag`);
        return indexEntry(tagged);
      }
      const listed = index.manifests.filter((entry) => entry.digest === reference);
      const chosen = listed.find((entry) => refNameOf(entry) === undefined) ?? listed[0];
      if (chosen !== undefined) return indexEntry(chosen);
      return this.resolveUnlisted(reference, what, signal);
    });
  }

  /**
   * Tags `desc` in index.json. The tag moves when it named another manifest (which keeps an untagged entry);
   * the untagged entry of `desc` is dropped. Tagging with the manifest's own digest only lists it.
   * @throws StowageError `INVALID_REFERENCE` (not a valid tag), `NOT_FOUND` (no such blob),
   *   `SIZE_MISMATCH` (the blob has another size), `INVALID_LAYOUT`, `IO`, `ABORTED`.
   */
  async tag(desc: Descriptor, reference: string, options: OperationOptions = {}): Promise<void> {
    const what = `tag ${desc.digest} as ${reference} in OCI layout ${this.directory}`;
    const { signal } = options;
    throwIfAborted(signal, what);
    const byDigest = reference === desc.digest;
    if (!byDigest && !isValidTag(reference)) {
      throw new StowageError('INVALID_REFERENCE', `${what}: "${reference}" is not a valid tag`);
    }
    const file = this.blobPath(desc.digest);
    await this.guard(what, async () => {
      const found = await statOrUndefined(file);
      if (found?.isFile() !== true) throw new StowageError('NOT_FOUND', `${what}: ${desc.digest} is not in the layout`);
      if (found.size !== desc.size) {
        throw new StowageError('SIZE_MISMATCH', `${what}: the blob has ${found.size} bytes, the descriptor says ${desc.size}`);
      }
      await this.updateIndex(what, signal, (index) => {
        if (byDigest) {
          if (index.manifests.some((entry) => entry.digest === desc.digest)) return false;
          index.manifests.push(indexEntry(desc));
          return true;
        }
        const moved: Descriptor[] = [];
        const kept: Descriptor[] = [];
        for (const entry of index.manifests) {
          const name = refNameOf(entry);
          if (name === reference) moved.push(entry);
          else if (name === undefined && entry.digest === desc.digest) continue;
          else kept.push(entry);
        }
        kept.push(indexEntry(desc, reference));
        for (const previous of moved) {
          const stillListed = kept.some((entry) => entry.digest === previous.digest);
          if (!stillListed && isManifestMediaType(previous.mediaType)) kept.push(indexEntry(previous));
        }
        index.manifests = kept;
        return true;
      });
    });
  }

  /**
   * Deletes a blob and every index.json entry (tagged or not) with its digest.
   * @throws StowageError `NOT_FOUND` (neither a blob nor an entry), `INVALID_LAYOUT`, `IO`, `ABORTED`.
   */
  async delete(desc: Descriptor, options: OperationOptions = {}): Promise<void> {
    const what = `delete ${desc.digest} from OCI layout ${this.directory}`;
    const { signal } = options;
    throwIfAborted(signal, what);
    const file = this.blobPath(desc.digest);
    await this.guard(what, async () => {
      const listed = await this.updateIndex(what, signal, (index) => {
        const kept = index.manifests.filter((entry) => entry.digest !== desc.digest);
        if (kept.length === index.manifests.length) return false;
        index.manifests = kept;
        return true;
      });
      const found = await statOrUndefined(file);
      if (found !== undefined) await rm(file, { force: true });
      this.linkCache.delete(desc.digest);
      if (!listed && found === undefined) throw new StowageError('NOT_FOUND', `${what}: not found`);
    });
  }

  /**
   * The descriptor of a blob by digest: its size from the file, media type `application/octet-stream`.
   * @throws StowageError `NOT_FOUND`, `INVALID_DIGEST`, `IO`, `ABORTED`.
   */
  async resolveBlob(digest: string, options: OperationOptions = {}): Promise<Descriptor> {
    const what = `resolve blob ${digest} in OCI layout ${this.directory}`;
    throwIfAborted(options.signal, what);
    const file = this.blobPath(digest);
    return this.guard(what, async () => {
      const found = await statOrUndefined(file);
      if (found?.isFile() !== true) throw new StowageError('NOT_FOUND', `${what}: blob not found`);
      return { mediaType: 'application/octet-stream', digest, size: found.size };
    });
  }

  /**
   * Writes a blob from a stream of `size` bytes read once, its digest computed on the way (or, with
   * `options.digest`, checked against it): into a temp file under `ingest/`, renamed into `blobs/` once the
   * size is right. Returns its descriptor (media type `options.mediaType`, default
   * `application/vnd.oci.image.layer.v1.tar`).
   * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_DIGEST`, `INVALID_ARGUMENT`, `IO`, `ABORTED`.
   */
  async pushStream(content: Readable, size: number, options: OperationOptions & { digest?: string; mediaType?: string } = {}): Promise<Descriptor> {
    const mediaType = options.mediaType ?? MediaType.ociLayer;
    const what = `push blob to OCI layout ${this.directory}`;
    const { signal } = options;
    if (!Number.isSafeInteger(size) || size < 0) {
      content.destroy();
      throw new StowageError('INVALID_ARGUMENT', `${what}: the size must be a non-negative integer`);
    }
    if (options.digest !== undefined) {
      const desc: Descriptor = { mediaType, digest: options.digest, size };
      await this.push(desc, content, options);
      return desc;
    }
    const hasher = new Hasher('sha256');
    return this.guard(what, async () => {
      const { file, handle } = await this.createTemp('stream');
      try {
        let position = 0;
        try {
          const source: AsyncIterable<unknown> = signal === undefined ? content : addAbortSignal(signal, content);
          for await (const chunk of source) {
            if (!(chunk instanceof Uint8Array)) throw new StowageError('INVALID_ARGUMENT', `${what}: the content stream must yield bytes`);
            hasher.update(chunk);
            if (hasher.size > size) throw new StowageError('SIZE_MISMATCH', `${what}: received more than the expected ${size} bytes`);
            for (let offset = 0; offset < chunk.byteLength; ) {
              const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset, position);
              offset += bytesWritten;
              position += bytesWritten;
            }
          }
          if (hasher.size !== size) throw new StowageError('SIZE_MISMATCH', `${what}: received ${hasher.size} bytes, expected ${size}`);
          await handle.datasync();
        } finally {
          await handle.close();
        }
        throwIfAborted(signal, what);
        const digest = hasher.digest();
        const target = this.blobPath(digest);
        const found = await statOrUndefined(target);
        if (found?.isFile() === true && found.size === size) {
          await rm(file, { force: true });
        } else {
          await chmod(file, 0o444);
          await mkdir(path.dirname(target), { recursive: true });
          await rename(file, target);
        }
        return { mediaType, digest, size };
      } catch (error) {
        content.destroy();
        await rm(file, { force: true });
        throwIfAborted(signal, what);
        throw error;
      }
    });
  }

  /**
   * The tags (`ref.name` values in index.json), sorted, as one page; with `last`, only those after it.
   * @throws StowageError `INVALID_LAYOUT`, `IO`, `ABORTED`.
   */
  async *tags(options: TagListOptions = {}): AsyncIterable<string[]> {
    const what = `list tags of OCI layout ${this.directory}`;
    throwIfAborted(options.signal, what);
    const { last } = options;
    const index = await this.guard(what, () => this.readIndex(what));
    const names = new Set<string>();
    for (const entry of index.manifests) {
      const name = refNameOf(entry);
      if (name !== undefined) names.add(name);
    }
    const sorted = [...names].sort();
    yield last === undefined ? sorted : sorted.filter((name) => name > last);
  }

  /**
   * The manifests that point to `desc` (as config, layer, index entry, artifact blob or subject), found by
   * walking every manifest listed in index.json and the manifests they list. Manifests whose blobs are
   * missing or unreadable are skipped.
   * @throws StowageError `INVALID_LAYOUT`, `IO`, `ABORTED`.
   */
  async predecessors(desc: Descriptor, options: OperationOptions = {}): Promise<Descriptor[]> {
    const what = `find predecessors of ${desc.digest} in OCI layout ${this.directory}`;
    const { signal } = options;
    throwIfAborted(signal, what);
    return this.guard(what, async () => {
      const index = await this.readIndex(what);
      const queue = index.manifests.filter((entry) => isManifestMediaType(entry.mediaType));
      const visited = new Set<string>();
      const found: Descriptor[] = [];
      for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
        if (visited.has(node.digest)) continue;
        visited.add(node.digest);
        const links = await this.linksOf(node, signal);
        if (links === undefined) continue;
        if (linksTo(links, desc.digest)) found.push(indexEntry(node));
        for (const successor of links.successors) {
          if (isManifestMediaType(successor.mediaType) && !visited.has(successor.digest)) queue.push(successor);
        }
      }
      return found;
    });
  }

  /**
   * The manifests whose `subject` is `desc`, answered from the layout's own graph (every manifest reachable
   * from index.json, as ORAS keeps referrers listed there untagged), as one page of referrer descriptors
   * with their artifact type and annotations, optionally of one artifact type.
   * @throws StowageError `INVALID_LAYOUT`, `IO`, `ABORTED`.
   */
  async *referrers(desc: Descriptor, options: ReferrersOptions = {}): AsyncIterable<Descriptor[]> {
    const what = `list referrers of ${desc.digest} in OCI layout ${this.directory}`;
    const candidates = await this.predecessors(desc, options.signal === undefined ? {} : { signal: options.signal });
    const subjectOnly: Descriptor[] = [];
    for (const candidate of candidates) {
      const links = this.linkCache.get(candidate.digest);
      if (links === undefined || links.subject?.digest === desc.digest) subjectOnly.push(candidate);
    }
    yield await this.guard(what, () => referrersAmong(this, desc, subjectOnly, options));
  }

  // ---- layout files ----

  private async checkOrCreate(what: string, create: boolean, signal: AbortSignal | undefined): Promise<void> {
    const layoutFile = path.join(this.directory, 'oci-layout');
    let layoutBytes = await readOrUndefined(layoutFile);
    if (layoutBytes === undefined) {
      if (!create) {
        throw new StowageError('INVALID_LAYOUT', `${what}: not an OCI image layout (no oci-layout file); create it or choose another directory`);
      }
      // Every writer writes the same bytes, so a race between two creators is harmless.
      await this.writeAtomically(layoutFile, `${JSON.stringify({ imageLayoutVersion })}\n`);
      layoutBytes = await readFile(layoutFile);
    }
    const layout = parseLayoutDocument(ociLayoutFileSchema, layoutBytes, `${what}: oci-layout`);
    if (!supportedLayoutVersion.test(layout.imageLayoutVersion)) {
      throw new StowageError('INVALID_LAYOUT', `${what}: unsupported imageLayoutVersion "${layout.imageLayoutVersion}" (1.x is supported)`);
    }
    if (create) await mkdir(path.join(this.directory, 'blobs'), { recursive: true });
    const indexFile = this.indexPath();
    if ((await statOrUndefined(indexFile)) === undefined) {
      if (!create) throw new StowageError('INVALID_LAYOUT', `${what}: index.json is missing`);
      // Created under the lock: another process may be creating it and already adding entries.
      const release = await acquireFileLock(this.lockPath(), { what, signal, staleMs: this.staleLockMs });
      try {
        if ((await statOrUndefined(indexFile)) === undefined) await this.writeIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
      } finally {
        await release();
      }
    }
    await this.readIndex(what);
  }

  private indexPath(): string {
    return path.join(this.directory, 'index.json');
  }

  private lockPath(): string {
    return path.join(this.directory, 'index.json.lock');
  }

  private ingestPath(): string {
    return path.join(this.directory, 'ingest');
  }

  /**
   * `blobs/<alg>/<hex>`. parseDigest admits only sha256 and sha512 with lowercase hex, so no separator or
   * `..` can reach the path; the check below keeps it that way if the digest grammar ever widens.
   * @throws StowageError `INVALID_DIGEST`, `PATH_TRAVERSAL`.
   */
  private blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    const blobs = path.join(this.directory, 'blobs');
    const file = path.join(blobs, algorithm, hex);
    if (path.relative(blobs, file) !== path.join(algorithm, hex) || hex.includes(path.sep) || algorithm.includes(path.sep)) {
      throw new StowageError('PATH_TRAVERSAL', `digest ${digest} does not name a file inside ${blobs}`);
    }
    return file;
  }

  private async readIndex(what: string): Promise<ImageIndex> {
    const bytes = await readOrUndefined(this.indexPath());
    if (bytes === undefined) throw new StowageError('INVALID_LAYOUT', `${what}: index.json is missing`);
    return parseLayoutDocument(imageIndexSchema, bytes, `${what}: index.json`);
  }

  private async writeIndex(index: ImageIndex): Promise<void> {
    // Image spec, image-layout.md: index.json's mediaType SHOULD be set; some writers (skopeo 1.9) leave it out.
    const complete: ImageIndex = index.mediaType === undefined ? { ...index, mediaType: MediaType.ociIndex } : index;
    await this.writeAtomically(this.indexPath(), JSON.stringify(complete));
  }

  /**
   * Read-modify-write of index.json under the lock, re-reading it inside. `change` returns false when it
   * changed nothing (then nothing is written); so does this.
   */
  private async updateIndex(what: string, signal: AbortSignal | undefined, change: (index: ImageIndex) => boolean): Promise<boolean> {
    const release = await acquireFileLock(this.lockPath(), { what, signal, staleMs: this.staleLockMs });
    try {
      const index = await this.readIndex(what);
      const changed = change(index);
      if (changed) await this.writeIndex(index);
      return changed;
    } finally {
      await release();
    }
  }

  /** A new temp file under ingest/, opened exclusively. */
  private async createTemp(prefix: string): Promise<{ file: string; handle: FileHandle }> {
    const ingest = this.ingestPath();
    await mkdir(ingest, { recursive: true });
    const file = path.join(ingest, `${prefix}-${randomBytes(8).toString('hex')}.partial`);
    return { file, handle: await open(file, 'wx', 0o644) };
  }

  /** Writes a small file by temp + rename, so readers see the old or the new content, never a mix. */
  private async writeAtomically(target: string, text: string): Promise<void> {
    const { file, handle } = await this.createTemp(path.basename(target));
    try {
      try {
        await handle.writeFile(text);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(file, target);
    } catch (error) {
      await rm(file, { force: true });
      throw error;
    }
  }

  /** Streams `content` into a temp file, verifying it, then renames it to `target` (read-only, like ORAS). */
  private async writeBlob(target: string, content: Content, expected: Descriptor, what: string, options: OperationOptions): Promise<void> {
    const { algorithm, hex } = parseDigest(expected.digest);
    const { file, handle } = await this.createTemp(`${algorithm}-${hex.slice(0, 16)}`);
    try {
      let position = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async (): Promise<void> => {
        if (pendingBytes === 0) return;
        const buffer = Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        for (let offset = 0; offset < buffer.byteLength; ) {
          const { bytesWritten } = await handle.write(buffer, offset, buffer.byteLength - offset, position);
          offset += bytesWritten;
          position += bytesWritten;
        }
      };
      try {
        await forEachVerifiedChunk(content, expected, what, async (chunk) => {
          pending.push(chunk);
          pendingBytes += chunk.byteLength;
          if (pendingBytes >= chunkBytes) await flush();
        }, options);
        await flush();
        await handle.datasync();
      } finally {
        await handle.close();
      }
      throwIfAborted(options.signal, what);
      await chmod(file, 0o444);
      await mkdir(path.dirname(target), { recursive: true });
      await rename(file, target);
    } catch (error) {
      await rm(file, { force: true });
      throw error;
    }
  }

  /** A manifest blob not listed in index.json: its descriptor when its JSON has a manifest `mediaType`. */
  private async resolveUnlisted(digest: string, what: string, signal: AbortSignal | undefined): Promise<Descriptor> {
    const notFound = new StowageError('NOT_FOUND', `${what}: no manifest with this digest`);
    const found = await statOrUndefined(this.blobPath(digest));
    if (found?.isFile() !== true || found.size > maxManifestBytes) throw notFound;
    const bytes = await readFile(this.blobPath(digest), signal === undefined ? {} : { signal });
    verifyBytes(bytes, { digest, size: found.size }, what);
    let mediaType: string;
    try {
      mediaType = parseJson(mediaTypeFieldSchema, bytes, what).mediaType;
    } catch {
      throw notFound;
    }
    if (!isManifestMediaType(mediaType)) throw notFound;
    this.linkCache.set(digest, manifestLinks(bytes, mediaType, what));
    return { mediaType, digest, size: bytes.byteLength };
  }

  /** The edges of a manifest node; undefined when its blob is missing or is not a manifest. */
  private async linksOf(node: Descriptor, signal: AbortSignal | undefined): Promise<ManifestLinks | undefined> {
    const cached = this.linkCache.get(node.digest);
    if (cached !== undefined) return cached;
    try {
      const bytes = await fetchBytes(this, node, signal === undefined ? {} : { signal });
      const links = manifestLinks(bytes, node.mediaType, node.digest);
      this.linkCache.set(node.digest, links);
      return links;
    } catch (error) {
      if (isStowageError(error, 'ABORTED', 'IO')) throw error;
      if (isStowageError(error)) return undefined;
      throw error;
    }
  }

  /** Runs `operation`, turning file system errors into `IO` (and abort errors into `ABORTED`). */
  private async guard<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (isStowageError(error)) throw error;
      if (error instanceof Error && error.name === 'AbortError') throw new StowageError('ABORTED', `${what}: cancelled`, { cause: error });
      throw ioError(what, error);
    }
  }
}

/** The tag of an index.json entry. */
function refNameOf(entry: Descriptor): string | undefined {
  return entry.annotations?.[Annotation.refName];
}

/** An index.json entry for `desc`: without embedded data, with `ref.name` set to `tag` or removed. */
function indexEntry(desc: Descriptor, tag?: string): Descriptor {
  const { data: _data, annotations, ...rest } = desc;
  const kept = Object.fromEntries(Object.entries(annotations ?? {}).filter(([key]) => key !== Annotation.refName));
  if (tag !== undefined) kept[Annotation.refName] = tag;
  return Object.keys(kept).length > 0 ? { ...rest, annotations: kept } : rest;
}

/** Parses a layout document, reporting failures as `INVALID_LAYOUT`. */
function parseLayoutDocument<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  try {
    return parseJson(schema, bytes, what);
  } catch (error) {
    throw new StowageError('INVALID_LAYOUT', isStowageError(error) ? error.message : `${what}: ${describeError(error)}`, { cause: error });
  }
}

function ioError(what: string, error: unknown): StowageError {
  if (isStowageError(error)) return error;
  return new StowageError('IO', `${what}: ${describeError(error)}`, { cause: error });
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}
