/**
 * Files and directories on disk as blobs: the source of a push and the destination of a pull.
 *
 * As a source, `add()` turns a file into a blob (streamed and hashed in 1 MiB chunks) and a directory
 * into a tar+gzip blob written to a temporary file; `addBytes()` holds the manifest and config the packer
 * builds, so `copy()` can read the whole graph from here.
 *
 * As a destination, `push()` writes blobs that carry a title (`org.opencontainers.image.title`) under
 * the root, verified and atomically (temporary name, then rename), and unpacks directories
 * (`io.deis.oras.content.unpack: "true"`). Titles are checked against path traversal. Blobs without a title
 * and manifests are kept in memory when small (4 MiB) or verified and dropped, so `copy()` can walk.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, lstat, mkdir, mkdtemp, open, realpath, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { Readable, Writable, addAbortSignal, pipeline as pipelineCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StowageError, abortError, describeError, isStowageError, throwIfAborted } from '../errors.js';
import { Hasher, isValidDigest, verifyBytes, verifyingStream } from '../oci/digest.js';
import { Annotation, MediaType, isValidMediaType } from '../oci/media-types.js';
import { isValidTag } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import { extractDirectory } from '../pack/extract-directory.js';
import { cleanPath, titleOf } from '../pack/file-refs.js';
import { isMissing, makeDirectoryWithin, resolveDirectoryTarget, resolveOutputPath, temporaryPathIn } from '../pack/path-guard.js';
import { readChunkSize, tarGzipDirectory } from '../pack/tar-directory.js';
import { waitClosed } from './wait-closed.js';
import { maxManifestBytes, toReadable, type Content, type OperationOptions, type Target } from './store.js';

/** Options of a {@link FileStore}. */
export interface FileStoreOptions {
  /** Pull: an existing file or directory where a blob would be written is an error (`FILE_EXISTS`). */
  keepOldFiles?: boolean;
  /** Pull: write titles that land outside the root (absolute, `..`, through symlinks), as ORAS `-T`. */
  allowPathTraversal?: boolean;
  /** Push: where directory archives are written until `close()`; default the OS temporary directory. */
  temporaryDirectory?: string;
}

/** Options of {@link FileStore.add}. */
export interface AddOptions extends OperationOptions {
  /** The title; default: the cleaned path. */
  name?: string;
  /**
   * The media type; default `application/vnd.oci.image.layer.v1.tar` for a file and
   * `application/vnd.oci.image.layer.v1.tar+gzip` for a directory.
   */
  mediaType?: string;
}

type Held = { kind: 'file'; path: string } | { kind: 'bytes'; bytes: Uint8Array };

interface NameClaim {
  digest: string;
  done: boolean;
  /** Settles when the write that made the claim does. */
  settled?: Promise<unknown>;
}

function ioError(error: unknown, signal: AbortSignal | undefined, what: string): StowageError {
  if (signal?.aborted === true) return abortError(signal, what);
  if (isStowageError(error)) return error;
  return new StowageError('IO', `${what}: ${describeError(error)}`, { cause: error });
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** Files and directories on disk as a store; see the module comment. */
export class FileStore implements Target {
  /** The directory relative paths are read from (push) and titles are written under (pull). */
  readonly root: string;
  private readonly options: FileStoreOptions;
  private readonly contents = new Map<string, Held>();
  private readonly descriptors = new Map<string, Descriptor>();
  private readonly names = new Map<string, NameClaim>();
  private readonly dropped = new Set<string>();
  private readonly tags = new Map<string, Descriptor>();
  private readonly temporaries = new Set<string>();
  private archiveDirectory: Promise<string> | undefined;
  private rootReady: Promise<string> | undefined;

  constructor(root: string, options: FileStoreOptions = {}) {
    this.root = resolvePath(root);
    this.options = { ...options };
  }

  /**
   * Adds a file or directory (relative paths are relative to the root) as a blob and returns its
   * descriptor. A directory becomes a tar+gzip archive with `io.deis.oras.content.digest` and
   * `io.deis.oras.content.unpack` annotations.
   * @throws StowageError `FILE_NOT_FOUND` (missing or unreadable), `INVALID_ARGUMENT` (a name already
   *   added, an empty name, neither file nor directory), `INVALID_MEDIA_TYPE`, `IO`, `ABORTED`.
   */
  async add(path: string, options: AddOptions = {}): Promise<Descriptor> {
    const { signal } = options;
    const what = `add ${path}`;
    throwIfAborted(signal, what);
    const name = options.name ?? cleanPath(path);
    if (name === '') throw new StowageError('INVALID_ARGUMENT', `${what}: the name is empty`);
    if (options.mediaType !== undefined && !isValidMediaType(options.mediaType)) {
      throw new StowageError('INVALID_MEDIA_TYPE', `${what}: invalid media type "${options.mediaType}"`);
    }
    if (this.names.has(name)) throw new StowageError('INVALID_ARGUMENT', `${what}: duplicate name "${name}"`);
    const claim: NameClaim = { digest: '', done: false };
    this.names.set(name, claim);
    try {
      const full = resolvePath(this.root, path);
      const info = await stat(full).catch((error: unknown) => {
        const reason = isMissing(error) ? 'no such file or directory' : `cannot be read: ${describeError(error)}`;
        throw new StowageError('FILE_NOT_FOUND', `${what}: ${reason}`, { cause: error });
      });
      let desc: Descriptor;
      let held: Held;
      if (info.isDirectory()) {
        const archive = join(await this.archives(), `${randomBytes(8).toString('hex')}.tar.gz`);
        this.temporaries.add(archive);
        const packed = await tarGzipDirectory(full, name, archive, signal === undefined ? {} : { signal }).catch((error: unknown) => {
          this.temporaries.delete(archive);
          throw error;
        });
        desc = {
          mediaType: options.mediaType ?? MediaType.ociLayerGzip,
          digest: packed.digest,
          size: packed.size,
          annotations: { [Annotation.contentDigest]: packed.tarDigest, [Annotation.contentUnpack]: 'true', [Annotation.title]: name },
        };
        held = { kind: 'file', path: archive };
      } else if (info.isFile()) {
        const hasher = new Hasher();
        try {
          const stream = await open(full, 'r').then((handle) => handle.createReadStream({ highWaterMark: readChunkSize }));
          for await (const chunk of signal === undefined ? stream : addAbortSignal(signal, stream)) {
            if (chunk instanceof Uint8Array) hasher.update(chunk);
          }
        } catch (error) {
          throw ioError(error, signal, what);
        }
        desc = { mediaType: options.mediaType ?? MediaType.ociLayer, digest: hasher.digest(), size: hasher.size, annotations: { [Annotation.title]: name } };
        held = { kind: 'file', path: full };
      } else {
        throw new StowageError('INVALID_ARGUMENT', `${what}: neither a regular file nor a directory`);
      }
      claim.digest = desc.digest;
      claim.done = true;
      if (!this.contents.has(desc.digest)) this.contents.set(desc.digest, held);
      this.descriptors.set(desc.digest, desc);
      return desc;
    } catch (error) {
      this.names.delete(name);
      throw error;
    }
  }

  /**
   * Holds `bytes` (a manifest or config the packer built) under `desc`.
   * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_DIGEST`.
   */
  addBytes(desc: Descriptor, bytes: Uint8Array): void {
    verifyBytes(bytes, desc, `add ${desc.digest}`);
    this.contents.set(desc.digest, { kind: 'bytes', bytes });
    this.descriptors.set(desc.digest, desc);
  }

  /**
   * Streams the content of `desc`, verified against it.
   * @throws StowageError `NOT_FOUND` (unknown, dropped, unpacked directory, or the file is gone); the
   *   stream fails with `SIZE_MISMATCH` / `DIGEST_MISMATCH` when a file changed since it was added.
   */
  async fetch(desc: Descriptor, options: OperationOptions = {}): Promise<Readable> {
    const what = `fetch ${titleOf(desc) ?? desc.digest}`;
    throwIfAborted(options.signal, what);
    const held = this.contents.get(desc.digest);
    if (held === undefined) throw new StowageError('NOT_FOUND', `${what}: not in the file store`);
    if (held.kind === 'bytes') {
      verifyBytes(held.bytes, desc, what);
      return toReadable(held.bytes);
    }
    let handle: FileHandle;
    try {
      handle = await open(held.path, 'r');
    } catch (error) {
      if (isMissing(error)) throw new StowageError('NOT_FOUND', `${what}: ${held.path} no longer exists`, { cause: error });
      throw ioError(error, options.signal, what);
    }
    const verified = verifyingStream(desc, what);
    pipelineCallback(handle.createReadStream({ highWaterMark: readChunkSize }), verified, () => undefined);
    return options.signal === undefined ? verified : addAbortSignal(options.signal, verified);
  }

  /**
   * True when the store holds `desc`. A titled blob counts only once this store has written or added
   * it under that title, so a pull writes every file.
   */
  exists(desc: Descriptor, _options: OperationOptions = {}): Promise<boolean> {
    const title = titleOf(desc);
    if (title !== undefined) {
      const claim = this.names.get(title);
      return Promise.resolve(claim?.done === true && claim.digest === desc.digest);
    }
    return Promise.resolve(this.contents.has(desc.digest) || this.dropped.has(desc.digest));
  }

  /**
   * Stores `content` under `desc`: a titled blob is written to `<root>/<title>` (verified, then renamed into
   * place), a directory archive is unpacked there; anything else is kept in memory (up to 4 MiB) or
   * verified and dropped.
   * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `PATH_TRAVERSAL`, `FILE_EXISTS`
   *   (`keepOldFiles`), `INVALID_MANIFEST` (two blobs with the same title), `IO`, `ABORTED`.
   */
  async push(desc: Descriptor, content: Content, options: OperationOptions = {}): Promise<void> {
    const title = titleOf(desc);
    const what = `write ${title ?? desc.digest}`;
    try {
      throwIfAborted(options.signal, what);
    } catch (error) {
      discard(content);
      throw error;
    }
    if (title === undefined) {
      await this.keep(desc, content, what, options);
      return;
    }
    const claimed = this.names.get(title);
    if (claimed !== undefined) {
      discard(content);
      if (claimed.digest !== desc.digest) throw new StowageError('INVALID_MANIFEST', `${what}: two different blobs are named "${title}"`);
      // The same file again: wait for the write in flight, and report its failure as ours.
      if (!claimed.done) await claimed.settled;
      if (!claimed.done) throw new StowageError('IO', `${what}: the write of the same file failed`);
      return;
    }
    const claim: NameClaim = { digest: desc.digest, done: false };
    this.names.set(title, claim);
    const writing = this.write(desc, content, title, what, claim, options);
    claim.settled = writing.catch(() => undefined);
    await writing;
  }

  private async write(desc: Descriptor, content: Content, title: string, what: string, claim: NameClaim, options: OperationOptions): Promise<void> {
    try {
      const root = await this.outputRoot();
      const allowPathTraversal = this.options.allowPathTraversal === true;
      let target = await resolveOutputPath(root, title, { allowPathTraversal });
      if (desc.annotations?.[Annotation.contentUnpack] === 'true') {
        target = await resolveDirectoryTarget(root, target, title, { allowPathTraversal });
        const targetIsOutputRoot = target === root;
        if (this.options.keepOldFiles === true && !targetIsOutputRoot && (await pathExists(target))) {
          throw new StowageError('FILE_EXISTS', `${what}: ${target} already exists`);
        }
        if (!targetIsOutputRoot) await this.makeParent(root, target, what);
        const tarDigest = desc.annotations[Annotation.contentDigest];
        await extractDirectory(toReadable(content), desc, target, {
          title,
          keepOldFiles: this.options.keepOldFiles === true,
          targetIsOutputRoot,
          ...(tarDigest === undefined ? {} : { tarDigest }),
          ...(targetIsOutputRoot ? { temporaryParent: root } : {}),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
      } else {
        await this.writeFile(desc, content, root, target, what, options);
        if (!this.contents.has(desc.digest)) this.contents.set(desc.digest, { kind: 'file', path: target });
      }
      claim.done = true;
      this.descriptors.set(desc.digest, desc);
    } catch (error) {
      this.names.delete(title);
      discard(content);
      throw ioError(error, options.signal, what);
    }
  }

  /**
   * The descriptor a tag set with {@link tag}, or a digest of held content, names.
   * @throws StowageError `NOT_FOUND`.
   */
  resolve(reference: string, _options: OperationOptions = {}): Promise<Descriptor> {
    const tagged = this.tags.get(reference);
    if (tagged !== undefined) return Promise.resolve(tagged);
    const known = isValidDigest(reference) ? this.descriptors.get(reference) : undefined;
    if (known !== undefined && this.contents.has(reference)) return Promise.resolve(known);
    return Promise.reject(new StowageError('NOT_FOUND', `resolve ${reference}: not in the file store`));
  }

  /**
   * Points `reference` at `desc`, which must be held.
   * @throws StowageError `INVALID_REFERENCE` (not a valid tag), `NOT_FOUND`.
   */
  tag(desc: Descriptor, reference: string, _options: OperationOptions = {}): Promise<void> {
    if (reference !== desc.digest && !isValidTag(reference)) {
      return Promise.reject(new StowageError('INVALID_REFERENCE', `tag ${desc.digest} as ${reference}: "${reference}" is not a valid tag`));
    }
    if (!this.contents.has(desc.digest)) {
      return Promise.reject(new StowageError('NOT_FOUND', `tag ${reference}: ${desc.digest} is not in the file store`));
    }
    this.tags.set(reference, desc);
    return Promise.resolve();
  }

  /** Removes the temporary files this store made (directory archives). The store is not usable for them afterwards. */
  async close(): Promise<void> {
    const removals = [...this.temporaries].map((path) => rm(path, { force: true, recursive: true }));
    this.temporaries.clear();
    await Promise.allSettled(removals);
    if (this.archiveDirectory !== undefined) {
      const dir = await this.archiveDirectory.catch(() => undefined);
      this.archiveDirectory = undefined;
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    }
  }

  private archives(): Promise<string> {
    this.archiveDirectory ??= mkdtemp(join(this.options.temporaryDirectory ?? tmpdir(), 'stowage-'));
    return this.archiveDirectory;
  }

  private outputRoot(): Promise<string> {
    this.rootReady ??= mkdir(this.root, { recursive: true }).then(() => this.root);
    return this.rootReady;
  }

  private async makeParent(root: string, target: string, what: string): Promise<void> {
    if (this.options.allowPathTraversal === true) {
      await mkdir(dirname(target), { recursive: true });
      return;
    }
    await makeDirectoryWithin(await realpath(root), dirname(target), what);
  }

  private async writeFile(desc: Descriptor, content: Content, root: string, target: string, what: string, options: OperationOptions): Promise<void> {
    const { signal } = options;
    const keepOldFiles = this.options.keepOldFiles === true;
    if (keepOldFiles && (await pathExists(target))) throw new StowageError('FILE_EXISTS', `${what}: ${target} already exists`);
    try {
      await this.makeParent(root, target, what);
    } catch (error) {
      throw ioError(error, signal, what);
    }
    const temporary = temporaryPathIn(dirname(target), 'partial');
    this.temporaries.add(temporary);
    const sink = createWriteStream(temporary, { flags: 'wx' });
    try {
      await pipeline(toReadable(content), verifyingStream(desc, what), sink, signal === undefined ? {} : { signal });
      throwIfAborted(signal, what);
      if (keepOldFiles) {
        // link() refuses to replace, unlike rename(): no window in which an existing file is overwritten.
        await link(temporary, target).catch((error: unknown) => {
          if (errorCode(error) === 'EEXIST') throw new StowageError('FILE_EXISTS', `${what}: ${target} already exists`);
          throw error;
        });
        await unlink(temporary);
      } else {
        await rename(temporary, target);
      }
    } catch (error) {
      await waitClosed(sink);
      await rm(temporary, { force: true });
      throw ioError(error, signal, what);
    } finally {
      this.temporaries.delete(temporary);
    }
  }

  private async keep(desc: Descriptor, content: Content, what: string, options: OperationOptions): Promise<void> {
    const { signal } = options;
    if (this.contents.has(desc.digest) || this.dropped.has(desc.digest)) {
      discard(content);
      return;
    }
    const chunks: Buffer[] = [];
    const small = desc.size <= maxManifestBytes;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (small) chunks.push(chunk);
        callback();
      },
    });
    try {
      await pipeline(toReadable(content), verifyingStream(desc, what), sink, signal === undefined ? {} : { signal });
    } catch (error) {
      throw ioError(error, signal, what);
    }
    if (small) {
      this.contents.set(desc.digest, { kind: 'bytes', bytes: Buffer.concat(chunks) });
      this.descriptors.set(desc.digest, desc);
    } else {
      this.dropped.add(desc.digest);
    }
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

function discard(content: Content): void {
  if (content instanceof Readable) content.destroy();
}
