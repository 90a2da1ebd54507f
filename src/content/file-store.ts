/**
 * Files and directories on disk as blobs: the source of a push and the destination of a pull.
 *
 * As a source, `add()` turns a file into a blob (streamed and hashed in 1 MiB chunks) and a directory
 * into a tar+gzip blob written to a temporary file; `addUploading()` does the same but hashes a file while
 * it uploads it to a one-pass destination (a registry), reading it once; `addBytes()` holds the manifest
 * and config the packer builds, so `copy()` can read the whole graph from here.
 *
 * As a destination, `push()` writes blobs that carry a title (`org.opencontainers.image.title`) under
 * the root, verified and atomically (temporary name, then rename), and unpacks directories
 * (`io.deis.oras.content.unpack: "true"`). Titles are checked against path traversal. Blobs without a title
 * and manifests are kept in memory when small (4 MiB) or verified and dropped, so `copy()` can walk.
 *
 * With `resume`, a file whose download fails for another reason than its content (network, Ctrl-C) is kept
 * as `.<name>.<hex12>.partial` beside its target; `pushResumable()` hashes those bytes and asks only for
 * the rest, and the digest is still verified over the whole content before the file gets its name.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, mkdtemp, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { Readable, Writable, addAbortSignal, pipeline as pipelineCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StowageError, abortError, describeError, isStowageError, throwIfAborted, errnoCode } from '../errors.js';
import { Hasher, isValidDigest, parseDigest, verifyBytes, verifyingStream } from '../oci/digest.js';
import { asyncVerifyResult, hasherFor, startHashWorker, threadedHashMinimumBytes, type AsyncHasher } from '../oci/threaded-hasher.js';
import { Annotation, MediaType, isManifestMediaType, isValidMediaType } from '../oci/media-types.js';
import { isValidTag } from '../oci/reference.js';
import type { Descriptor } from '../oci/schemas.js';
import { extractDirectory } from '../pack/extract-directory.js';
import { cleanPath, titleOf } from '../pack/file-refs.js';
import { isMissing, makeDirectoryWithin, realOutputRoot, resolveDirectoryTarget, resolveOutputPath, temporaryPathIn } from '../pack/path-guard.js';
import { readChunkSize, tarGzipDirectory } from '../pack/tar-directory.js';
import { HashingFileWriter } from './hashing-file-writer.js';
import {
  isDrainable,
  maxManifestBytes,
  toReadable,
  type Content,
  type FetchFrom,
  type FilePusher,
  type OperationOptions,
  type PushFileOptions,
  type Preparer,
  type PushFileResult,
  type RangeContent,
  type ResumablePusher,
  type Target,
} from './store.js';

/** Options of a {@link FileStore}. */
export interface FileStoreOptions {
  /** Pull: an existing file or directory where a blob would be written is an error (`FILE_EXISTS`). */
  keepOldFiles?: boolean;
  /** Pull: write titles that land outside the root (absolute, `..`, through symlinks), as ORAS `-T`. */
  allowPathTraversal?: boolean;
  /** Push: where directory archives are written until `close()`; default the OS temporary directory. */
  temporaryDirectory?: string;
  /**
   * Pull: keep the bytes of a file whose write fails for another reason than its content (a network error,
   * an abort) as `.<name>.<hex12>.partial` beside it, and continue from them in {@link FileStore.pushResumable}.
   * Default false: a failed write leaves nothing behind.
   */
  resume?: boolean;
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


/** Where a write gets its bytes: content in hand (push), or a function that fetches from an offset (resume). */
type Source = { content: Content } | { fetchFrom: FetchFrom };

/**
 * The name under which a file's interrupted download is kept for the next pull: `.<name>.<hex12>.partial`
 * beside `target`, from the target's name and the first 12 hex digits of the blob's digest.
 */
export function partialPathOf(target: string, digest: string): string {
  const hex = digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
  return join(dirname(target), `.${basename(target)}.${hex}.partial`);
}

/** Longest file name written (most file systems allow 255 bytes). */
const maxNameBytes = 255;

/**
 * The name a resumable download is written under while it runs: the kept name with this process's id and a
 * random part (`.<name>.<hex12>.<pid>-<hex8>.partial`), so that a download whose process was killed outright
 * (SIGKILL, a crash, the machine going down: no chance to rename it) can be found and continued by the next
 * pull, once its process is gone. A name too long for that gets a plain temporary name.
 */
function inProgressPathOf(kept: string): string {
  const name = `${basename(kept).slice(0, -'.partial'.length)}.${process.pid}-${randomBytes(4).toString('hex')}.partial`;
  return Buffer.byteLength(name) > maxNameBytes ? temporaryPathIn(dirname(kept), 'partial') : join(dirname(kept), name);
}

/** Whether a process with this id runs (on this machine, as seen from this pid namespace). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return errnoCode(error) === 'EPERM';
  }
}

/** In-progress downloads in one directory (see {@link inProgressPathOf}), by the kept name they belong to. */
type InProgressNames = Map<string, string[]>;

/** Lists the in-progress downloads in `dir`: one `readdir`, grouped by the kept name (without `.partial`). */
async function listInProgress(dir: string): Promise<InProgressNames> {
  const byKept: InProgressNames = new Map();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return byKept;
  }
  for (const name of names) {
    const match = /^(.+)\.\d+-[0-9a-f]{8}\.partial$/.exec(name);
    if (match?.[1] === undefined) continue;
    const group = byKept.get(match[1]);
    if (group === undefined) byKept.set(match[1], [name]);
    else group.push(name);
  }
  return byKept;
}

/**
 * Renames to `temporary` the largest download of `kept` left by a process that is gone (see
 * {@link inProgressPathOf}); false when there is none. A process that still runs keeps its file.
 * `listing` is the directory's in-progress downloads, listed once per store (a pull of many files must not
 * list the directory for each).
 */
async function adoptOrphan(kept: string, temporary: string, listing: Promise<InProgressNames>): Promise<boolean> {
  const stem = basename(kept).slice(0, -'.partial'.length);
  const prefix = `${stem}.`;
  const orphans: { path: string; size: number }[] = [];
  for (const name of (await listing).get(stem) ?? []) {
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    const path = join(dirname(kept), name);
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() === true) orphans.push({ path, size: info.size });
  }
  orphans.sort((a, b) => b.size - a.size);
  for (const orphan of orphans) {
    try {
      // Atomic: of two pulls adopting at once, one gets it.
      await rename(orphan.path, temporary);
    } catch {
      continue;
    }
    // The others are older attempts at the same bytes: the one adopted has the most.
    await Promise.all(orphans.filter((other) => other !== orphan).map((other) => rm(other.path, { force: true })));
    return true;
  }
  return false;
}

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

/** Files and directories on disk as a store; see the module comment. */
export class FileStore implements Target, ResumablePusher, Preparer {
  /** The directory relative paths are read from (push) and titles are written under (pull). */
  readonly root: string;
  private readonly options: FileStoreOptions;
  private readonly contents = new Map<string, Held>();
  private readonly descriptors = new Map<string, Descriptor>();
  private readonly names = new Map<string, NameClaim>();
  private readonly dropped = new Set<string>();
  private readonly tags = new Map<string, Descriptor>();
  private readonly temporaries = new Set<string>();
  /**
   * The in-progress downloads of each output directory, listed when the first file goes there: a download
   * left by a process that is gone was there before this store began.
   */
  private readonly inProgress = new Map<string, Promise<InProgressNames>>();
  private archiveDirectory: Promise<string> | undefined;
  private rootReady: Promise<string> | undefined;
  private rootRealReady: Promise<string> | undefined;

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
    return (await this.addWith(path, options, undefined)).descriptor;
  }

  /**
   * Adds a file or directory as {@link add} does, reading a regular file only once: it is hashed as it is
   * uploaded to `target` ({@link FilePusher.pushFile}: one pass, or none when the digest cache and the
   * target know it), so its descriptor comes back with the blob already there, and `uploaded` says what the
   * upload did. A directory is archived as by {@link add}, not uploaded (`uploaded` is undefined).
   * @throws StowageError as {@link add}, and what `target.pushFile` throws.
   */
  async addUploading(
    path: string,
    target: FilePusher,
    options: AddOptions & Omit<PushFileOptions, 'mediaType' | 'signal'> = {},
  ): Promise<{ descriptor: Descriptor; uploaded?: PushFileResult }> {
    return this.addWith(path, options, target);
  }

  private async addWith(
    path: string,
    options: AddOptions & Omit<PushFileOptions, 'mediaType' | 'signal'>,
    target: FilePusher | undefined,
  ): Promise<{ descriptor: Descriptor; uploaded?: PushFileResult }> {
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
      let uploaded: PushFileResult | undefined;
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
      } else if (info.isFile() && target !== undefined) {
        const { name: _name, ...pushOptions } = options;
        uploaded = await target.pushFile(full, pushOptions);
        desc = { ...uploaded.descriptor, annotations: { [Annotation.title]: name } };
        held = { kind: 'file', path: full };
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
      return uploaded === undefined ? { descriptor: desc } : { descriptor: desc, uploaded };
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
    await this.store(desc, { content }, options);
  }

  /**
   * Stores `desc` as {@link push} does, fetching the content with `fetchFrom`. With the `resume` option, a
   * plain file whose earlier download was kept (`.<name>.<hex12>.partial`) is continued: its bytes are hashed,
   * `fetchFrom(<their count>)` gives the rest (or everything, with offset 0: then the file starts over), and
   * the digest and size are verified over the whole. When that fails, the kept bytes were not a prefix of the
   * blob: they are dropped and the blob fetched again from 0, once. A kept file larger than the blob is
   * dropped. Directories and untitled blobs are always fetched whole.
   * @throws StowageError as {@link push}, `INVALID_ARGUMENT` (`fetchFrom` answered another offset), and
   *   whatever `fetchFrom` throws.
   */
  async pushResumable(desc: Descriptor, fetchFrom: FetchFrom, options: OperationOptions = {}): Promise<void> {
    await this.store(desc, { fetchFrom }, options);
  }

  /** Starts the hashing thread when a blob among `descs` is large enough to be hashed on it. */
  prepareFor(descs: readonly Descriptor[]): void {
    if (descs.some((desc) => !isManifestMediaType(desc.mediaType) && desc.size >= threadedHashMinimumBytes)) startHashWorker();
  }

  private async store(desc: Descriptor, source: Source, options: OperationOptions): Promise<void> {
    const title = titleOf(desc);
    const what = `write ${title ?? desc.digest}`;
    try {
      throwIfAborted(options.signal, what);
    } catch (error) {
      discardSource(source);
      throw error;
    }
    if (title === undefined) {
      await this.keep(desc, await wholeContent(source, what), what, options);
      return;
    }
    const claimed = this.names.get(title);
    if (claimed !== undefined) {
      discardSource(source);
      if (claimed.digest !== desc.digest) throw new StowageError('INVALID_MANIFEST', `${what}: two different blobs are named "${title}"`);
      // The same file again: wait for the write in flight, and report its failure as ours.
      if (!claimed.done) await claimed.settled;
      if (!claimed.done) throw new StowageError('IO', `${what}: the write of the same file failed`);
      return;
    }
    const claim: NameClaim = { digest: desc.digest, done: false };
    this.names.set(title, claim);
    const writing = this.write(desc, source, title, what, claim, options);
    claim.settled = writing.catch(() => undefined);
    await writing;
  }

  private async write(desc: Descriptor, from: Source, title: string, what: string, claim: NameClaim, options: OperationOptions): Promise<void> {
    let source = from;
    try {
      const root = await this.outputRoot();
      const allowPathTraversal = this.options.allowPathTraversal === true;
      let target = await resolveOutputPath(root, title, allowPathTraversal ? { allowPathTraversal } : { rootReal: await this.realRoot() });
      if (desc.annotations?.[Annotation.contentUnpack] === 'true') {
        target = await resolveDirectoryTarget(root, target, title, { allowPathTraversal });
        const targetIsOutputRoot = target === root;
        if (this.options.keepOldFiles === true && !targetIsOutputRoot && (await pathExists(target))) {
          throw new StowageError('FILE_EXISTS', `${what}: ${target} already exists`);
        }
        if (!targetIsOutputRoot) await this.makeParent(root, target, what);
        const tarDigest = desc.annotations[Annotation.contentDigest];
        source = { content: await wholeContent(source, what) };
        await extractDirectory(toReadable(source.content), desc, target, {
          title,
          keepOldFiles: this.options.keepOldFiles === true,
          targetIsOutputRoot,
          ...(tarDigest === undefined ? {} : { tarDigest }),
          ...(targetIsOutputRoot ? { temporaryParent: root } : {}),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
      } else {
        await this.writeFile(desc, source, root, target, what, options);
        if (!this.contents.has(desc.digest)) this.contents.set(desc.digest, { kind: 'file', path: target });
      }
      claim.done = true;
      this.descriptors.set(desc.digest, desc);
    } catch (error) {
      this.names.delete(title);
      discardSource(source);
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

  /** The real path of the output directory, resolved once for all the files written under it. */
  private realRoot(): Promise<string> {
    this.rootRealReady ??= this.outputRoot().then(realOutputRoot);
    return this.rootRealReady;
  }

  private inProgressIn(dir: string): Promise<InProgressNames> {
    let listing = this.inProgress.get(dir);
    if (listing === undefined) {
      listing = listInProgress(dir);
      this.inProgress.set(dir, listing);
    }
    return listing;
  }

  private async makeParent(root: string, target: string, what: string): Promise<void> {
    // The output directory itself was made (and checked) before any file was written in it.
    if (dirname(target) === resolvePath(root)) return;
    if (this.options.allowPathTraversal === true) {
      await mkdir(dirname(target), { recursive: true });
      return;
    }
    await makeDirectoryWithin(await this.realRoot(), dirname(target), what);
  }

  private async writeFile(desc: Descriptor, source: Source, root: string, target: string, what: string, options: OperationOptions): Promise<void> {
    const { signal } = options;
    const keepOldFiles = this.options.keepOldFiles === true;
    if (keepOldFiles && (await pathExists(target))) {
      discardSource(source);
      throw new StowageError('FILE_EXISTS', `${what}: ${target} already exists`);
    }
    try {
      await this.makeParent(root, target, what);
    } catch (error) {
      discardSource(source);
      throw ioError(error, signal, what);
    }
    const kept = this.options.resume === true ? partialPathOf(target, desc.digest) : undefined;
    // The bytes are written under a fresh name, so that no other process appends to the file this one
    // verifies; a kept download is claimed by renaming it there, and named back if this write fails too.
    const temporary = kept === undefined ? temporaryPathIn(dirname(target), 'partial') : inProgressPathOf(kept);
    this.temporaries.add(temporary);
    let verified = false;
    try {
      const claims = kept !== undefined && 'fetchFrom' in source;
      const prefix = claims ? await claimPartial(kept, temporary, () => this.inProgressIn(dirname(kept)), desc, what, signal) : undefined;
      await writeVerified(desc, source, temporary, prefix, what, signal);
      verified = true;
      throwIfAborted(signal, what);
      if (keepOldFiles) {
        // link() refuses to replace, unlike rename(): no window in which an existing file is overwritten.
        await link(temporary, target).catch((error: unknown) => {
          if (errnoCode(error) === 'EEXIST') throw new StowageError('FILE_EXISTS', `${what}: ${target} already exists`);
          throw error;
        });
        await unlink(temporary);
      } else {
        await rename(temporary, target);
      }
      // A download kept earlier and not continued (the source cannot fetch ranges) is stale now. One that
      // could be continued was claimed above (renamed away), or there was none.
      if (kept !== undefined && !claims) await rm(kept, { force: true });
    } catch (error) {
      if (kept !== undefined && !verified && keepsPartial(error)) await keepPartial(temporary, kept);
      else await rm(temporary, { force: true });
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

function discardSource(source: Source): void {
  if ('content' in source) discard(source.content);
}

/**
 * The whole content of a source.
 * @throws StowageError `INVALID_ARGUMENT` when `fetchFrom(0)` answers another offset, and what it throws.
 */
async function wholeContent(source: Source, what: string): Promise<Content> {
  if ('content' in source) return source.content;
  return checkedOffset(await source.fetchFrom(0), 0, what).content;
}

function checkedOffset(answer: RangeContent, asked: number, what: string): RangeContent {
  if (answer.offset === 0 || answer.offset === asked) return answer;
  answer.content.destroy();
  throw new StowageError('INVALID_ARGUMENT', `${what}: asked for the content from byte ${asked}, got it from byte ${answer.offset}`);
}

/** Whether a failed download is worth keeping: not when its bytes were found wrong. */
function keepsPartial(error: unknown): boolean {
  return !isStowageError(error, 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'INVALID_DIGEST', 'INVALID_ARGUMENT');
}

/** Names the bytes of a failed download `kept` for the next pull; an empty or unnameable file is removed. */
async function keepPartial(temporary: string, kept: string): Promise<void> {
  try {
    const info = await stat(temporary);
    if (info.size > 0) {
      await rename(temporary, kept);
      return;
    }
  } catch {
    // Keeping is best effort (a name too long, a read-only directory): the next pull starts over.
  }
  await rm(temporary, { force: true });
}

/**
 * Takes the kept download of `desc` (renames `kept` to `temporary`) and hashes its bytes. Undefined when
 * there is none; a kept file larger than the blob is removed.
 * @throws StowageError `IO`, `ABORTED` (reading it failed; the caller keeps or removes `temporary`).
 */
async function claimPartial(
  kept: string,
  temporary: string,
  listing: () => Promise<InProgressNames>,
  desc: Descriptor,
  what: string,
  signal: AbortSignal | undefined,
): Promise<AsyncHasher | undefined> {
  try {
    await rename(kept, temporary);
  } catch {
    // None (ENOENT), or one another process has just taken: perhaps one a killed process left, else nothing.
    if (!(await adoptOrphan(kept, temporary, listing()))) return undefined;
  }
  const hasher = hasherFor(parseDigest(desc.digest).algorithm, desc.size);
  let tooLarge = false;
  try {
    const handle = await open(temporary, 'r');
    try {
      tooLarge = (await handle.stat()).size > desc.size;
      if (!tooLarge) {
        const stream = handle.createReadStream({ highWaterMark: readChunkSize, autoClose: false });
        for await (const chunk of signal === undefined ? stream : addAbortSignal(signal, stream)) {
          if (chunk instanceof Uint8Array) await hasher.update(chunk);
        }
      }
    } finally {
      await handle.close();
    }
  } catch (error) {
    hasher.dispose();
    throw ioError(error, signal, `${what}: reading the kept download`);
  }
  if (!tooLarge) return hasher;
  hasher.dispose();
  await rm(temporary, { force: true });
  return undefined;
}

/**
 * Writes the content of `desc` to `temporary`, from the bytes already there (`prefix`, their hash) when the
 * source gives the rest, else from the start; verifies size and digest over the whole. A resumed write that
 * fails verification starts over from 0, once.
 * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_ARGUMENT`, `IO`, `ABORTED`, and what the source throws.
 */
async function writeVerified(desc: Descriptor, source: Source, temporary: string, prefix: AsyncHasher | undefined, what: string, signal: AbortSignal | undefined): Promise<void> {
  const { algorithm } = parseDigest(desc.digest);
  let resumed = prefix;
  let fileExists = prefix !== undefined;
  try {
    for (;;) {
      const from = resumed?.size ?? 0;
      // `r+` keeps the kept bytes and writes after them; `w` truncates a kept file the source sends again
      // from the start; `wx` never touches another's file. Blocks are written at their offsets, so no `a`.
      const mode = from > 0 ? 'r+' : fileExists ? 'w' : 'wx';
      // The file is opened while the request goes out, not after its answer (a pull of many small files
      // waited ~0.6 ms per file for it).
      const opening = open(temporary, mode).then(
        (handle) => ({ handle }),
        (error: unknown) => ({ error }),
      );
      let answer: RangeContent;
      try {
        answer = 'content' in source ? { offset: 0, content: toReadable(source.content) } : checkedOffset(await source.fetchFrom(from), from, what);
      } catch (error) {
        const opened = await opening;
        if ('handle' in opened) await opened.handle.close().catch(() => undefined);
        throw error;
      }
      const { offset, content } = answer;
      let hasher: AsyncHasher;
      if (offset > 0 && resumed !== undefined) {
        hasher = resumed;
      } else {
        resumed?.dispose();
        hasher = hasherFor(algorithm, desc.size);
      }
      // From here `hasher` is disposed of below, on every path.
      resumed = undefined;
      const opened = await opening;
      if ('error' in opened) {
        hasher.dispose();
        content.destroy();
        throw opened.error;
      }
      const handle = opened.handle;
      fileExists = true;
      try {
        // A source asked for a range may send everything again: then the kept bytes go too.
        if (offset > 0 || mode === 'r+') await handle.truncate(offset);
        await appendHashed(toReadable(content), new HashingFileWriter(handle, offset, hasher, what), hasher.size, desc.size, what, signal);
      } catch (error) {
        hasher.dispose();
        throw error;
      } finally {
        await handle.close().catch(() => undefined);
      }
      const failure = await asyncVerifyResult(hasher, desc, what);
      if (failure === null) return;
      if (offset === 0) throw failure;
      // The kept bytes were not the start of this blob: fetch all of it, once.
    }
  } finally {
    resumed?.dispose();
  }
}

/**
 * Writes `content` through `writer` (to the file and the hasher), from byte `start` on, failing with
 * `SIZE_MISMATCH` once it has seen more than `limit` bytes in all. Whatever happens, the bytes already
 * received reach the file before this settles: a download kept after a failure keeps all it received.
 * @throws StowageError `SIZE_MISMATCH`, `INVALID_ARGUMENT` (a stream of strings), `IO`, and what the content
 *   fails with (an abort as the stream's AbortError).
 */
async function appendHashed(content: Readable, writer: HashingFileWriter, start: number, limit: number, what: string, signal: AbortSignal | undefined): Promise<void> {
  let received = start;
  const take = (chunk: unknown): void | Promise<void> => {
    if (!(chunk instanceof Uint8Array)) throw new StowageError('INVALID_ARGUMENT', `${what}: the content stream must yield bytes`);
    received += chunk.byteLength;
    if (received > limit) throw new StowageError('SIZE_MISMATCH', `${what}: received more than the expected ${limit} bytes`);
    return writer.write(chunk);
  };
  try {
    const source = signal === undefined ? content : addAbortSignal(signal, content);
    if (isDrainable(source)) {
      await source.drainTo(take);
    } else {
      for await (const chunk of source) {
        const pending = take(chunk);
        if (pending !== undefined) await pending;
      }
    }
  } catch (error) {
    content.destroy();
    // What came before the failure is written, for a later resume; the failure is what is reported.
    await writer.finish().catch(() => undefined);
    throw error;
  }
  await writer.finish();
}
