/**
 * Push: files and directories to an artifact in a destination. When the destination can take a file in one
 * pass ({@link FilePusher}: a registry), each regular file is hashed while it uploads, several at once, and
 * the manifest is packed once their digests are known; then the config and the manifest follow through
 * `copy()` (directories too, as tar+gzip archives). Other destinations (an OCI layout) get the classic two
 * passes: every file hashed first, then copied.
 */
import { setMaxListeners } from 'node:events';
import { abortError, throwIfAborted } from '../errors.js';
import { Annotation, MediaType, emptyDescriptor } from '../oci/media-types.js';
import { successors as manifestSuccessors, type Descriptor } from '../oci/schemas.js';
import type { DigestCache } from '../content/digest-cache.js';
import type { FileStore } from '../content/file-store.js';
import { isFilePusher, type OperationOptions, type PushFileResult, type Target } from '../content/store.js';
import { copy, type CopyHooks } from '../copy/copy.js';
import { Limiter } from '../copy/limiter.js';
import type { UploadSessions } from '../registry/upload-state.js';
import type { Annotations } from './annotations.js';
import { cleanPath } from './file-refs.js';
import { annotateFile, packManifest, type PackedManifest, type PackOptions } from './pack.js';

/** A file or directory to put in the artifact. */
export interface ArtifactFile {
  /** Its path; a relative one is relative to the file store's root. */
  path: string;
  /** The title annotation; default the cleaned path. */
  title?: string;
  /** Default: `application/vnd.oci.image.layer.v1.tar` (file), `...tar+gzip` (directory). */
  mediaType?: string;
  /** Annotations of its descriptor besides the title. */
  annotations?: Annotations;
}

/** A file on its way to the destination in one pass: known by its title until its digest is computed. */
export interface FileTransfer {
  title: string;
  path: string;
  /** Its size (0 until the file is opened). */
  size: number;
}

/**
 * Progress of a push: {@link CopyHooks} for what goes through `copy()` (directories, config, manifest,
 * and every file for destinations without one-pass uploads), file hooks for one-pass uploads.
 */
export interface PushArtifactHooks extends CopyHooks {
  /** A one-pass upload begins (the file is open, its size known, its digest not yet). */
  onFileStart?: (file: FileTransfer) => void;
  /** Bytes of the file the destination has plus the ones in flight (it may move back after a failure). */
  onFileProgress?: (file: FileTransfer, transferred: number) => void;
  /** The file is in the destination as `desc`; `result` says how (uploaded, or found there). */
  onFileDone?: (file: FileTransfer, desc: Descriptor, result: PushFileResult) => void;
}

/** Options of {@link pushArtifact}. */
export interface PushArtifactOptions extends PushArtifactHooks, OperationOptions {
  /** Reads the files (relative paths from its root) and holds the generated blobs; the caller closes it. */
  store: FileStore;
  files: readonly ArtifactFile[];
  /** A config file, with its media type (default `application/vnd.unknown.config.v1+json`). */
  config?: { path: string; mediaType?: string };
  /** How to pack the manifest: everything but the files and the config. */
  pack?: Omit<PackOptions, 'files' | 'config'>;
  /** Tags to give the manifest; the first one is pushed by reference when the destination can. */
  tags?: readonly string[];
  /** Transfers at once; default 3. */
  concurrency?: number;
  /** Digests of files pushed before (one-pass destinations): an unchanged file the destination has is not read. */
  digestCache?: DigestCache;
  /** Upload sessions kept between runs (one-pass destinations): an interrupted upload of a file continues. */
  sessions?: UploadSessions;
  /** Called with the manifest once it is packed, before it is pushed (to export it, say). */
  onPacked?: (packed: PackedManifest) => Promise<void> | void;
}

/**
 * Packs `files` into an artifact and pushes it to `target` (see the module comment). Files are added in
 * parallel; the first failure cancels the others (their upload sessions are kept in `sessions` for the
 * next run) and is the one thrown. The digest cache is saved at the end, success or not (best effort).
 * Returns the packed manifest.
 * @throws StowageError as `FileStore.add`, `FilePusher.pushFile`, `packManifest` and `copy` do
 *   (`FILE_NOT_FOUND`, `INVALID_ARGUMENT`, `IO`, `NETWORK`, `DIGEST_MISMATCH`, `ABORTED`, ...).
 */
export async function pushArtifact(target: Target, options: PushArtifactOptions): Promise<PackedManifest> {
  const { store, signal: outer } = options;
  const what = 'push';
  throwIfAborted(outer, what);
  const onePass = isFilePusher(target) ? target : undefined;
  const uploaded = new Set<string>();
  const controller = new AbortController();
  const onOuterAbort = (): void => {
    controller.abort(outer?.reason);
  };
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  setMaxListeners(0, controller.signal);
  const signal = controller.signal;
  const limiter = new Limiter(options.concurrency ?? 3);
  let firstFailure: { error: unknown } | undefined;

  const add = (path: string, title: string, mediaType: string | undefined): Promise<Descriptor> =>
    limiter.run(async () => {
      throwIfAborted(signal, `${what} ${path}`);
      const addOptions = { name: title, signal, ...(mediaType === undefined ? {} : { mediaType }) };
      if (onePass === undefined) return store.add(path, addOptions);
      const file: FileTransfer = { title, path, size: 0 };
      const added = await store.addUploading(path, onePass, {
        ...addOptions,
        ...(options.digestCache === undefined ? {} : { digestCache: options.digestCache }),
        ...(options.sessions === undefined ? {} : { sessions: options.sessions }),
        onStart: (size) => {
          file.size = size;
          options.onFileStart?.(file);
        },
        onProgress: (transferred) => options.onFileProgress?.(file, transferred),
      });
      if (added.uploaded !== undefined) {
        uploaded.add(added.descriptor.digest);
        options.onFileDone?.(file, added.descriptor, added.uploaded);
      }
      return added.descriptor;
    });

  const failFast = <T>(task: Promise<T>): Promise<T> => {
    task.catch((error: unknown) => {
      if (!controller.signal.aborted) {
        firstFailure = { error };
        controller.abort(error);
      }
    });
    return task;
  };

  try {
    // Packing options that cannot work fail now, before any byte is read or sent (the digests come later).
    const placeholder = (mediaType: string, title?: string): Descriptor => ({
      mediaType,
      digest: emptyDescriptor.digest,
      size: 0,
      ...(title === undefined ? {} : { annotations: { [Annotation.title]: title } }),
    });
    packManifest({
      ...options.pack,
      files: options.files.map((file) => placeholder(file.mediaType ?? MediaType.ociLayer, file.title ?? cleanPath(file.path))),
      ...(options.config === undefined ? {} : { config: placeholder(options.config.mediaType ?? MediaType.unknownConfig) }),
    });

    const layerTasks = options.files.map((file) => failFast(add(file.path, file.title ?? cleanPath(file.path), file.mediaType)));
    const configTask =
      options.config === undefined ? undefined : failFast(add(options.config.path, cleanPath(options.config.path), options.config.mediaType ?? MediaType.unknownConfig));
    const settled = await Promise.allSettled([...layerTasks, ...(configTask === undefined ? [] : [configTask])]);
    for (const result of settled) if (result.status === 'rejected') throw firstFailure?.error ?? result.reason;

    const layers = await Promise.all(layerTasks);
    const config = configTask === undefined ? undefined : await configTask;
    const packed = packManifest({
      ...options.pack,
      files: layers.map((desc, index) => annotateFile(desc, options.files[index]?.annotations)),
      ...(config === undefined ? {} : { config }),
    });
    for (const blob of packed.blobs) store.addBytes(blob.descriptor, blob.bytes);
    store.addBytes(packed.descriptor, packed.bytes);
    await options.onPacked?.(packed);

    const { store: _store, files: _files, config: _config, pack: _pack, tags = [], digestCache: _cache, sessions: _sessions, onPacked: _packed, ...rest } = options;
    const { onFileStart: _start, onFileProgress: _progress, onFileDone: _done, ...copyOptions } = rest;
    await copy(store, packed.descriptor.digest, target, tags[0], {
      ...copyOptions,
      extraTags: tags.slice(1),
      signal,
      // What went up in one pass is there: no HEAD for it, and no "exists" line.
      successors: (_node, parsed) => manifestSuccessors(parsed).filter((child) => !uploaded.has(child.digest)),
    });
    return packed;
  } catch (error) {
    if (firstFailure !== undefined) throw firstFailure.error;
    throw outer?.aborted === true ? abortError(outer, what) : error;
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
    await options.digestCache?.save().catch(() => undefined);
  }
}
