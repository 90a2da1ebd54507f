/**
 * Push and pull through the library the way `stowage push` and `stowage pull` do (commands/push.ts,
 * commands/pull.ts), and the file-system fixtures the round-trip tests compare: streamed random files,
 * sha256 of files, and snapshots of directory trees (type, mode, content digest, symlink target).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, opendir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { copy, type CopyHooks } from '../../src/copy/copy.js';
import { FileStore, type FileStoreOptions } from '../../src/content/file-store.js';
import type { ReadOnlyTarget, Target } from '../../src/content/store.js';
import { MediaType, emptyDescriptor, emptyJson } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { annotateFile, packManifest, type PackOptions } from '../../src/pack/pack.js';
import { titleOf } from '../../src/pack/file-refs.js';
import { pullSuccessors } from '../../src/pack/pull-successors.js';
import { describeBytes, type Blob } from './store-contract.js';

/** One file or directory to push: a path relative to the push root, with an optional title and media type. */
export interface PushFile {
  path: string;
  title?: string;
  mediaType?: string;
  annotations?: Record<string, string>;
}

/** Options of {@link pushFiles}. */
export interface PushFilesOptions extends CopyHooks {
  /** Manifest annotations. */
  annotations?: Record<string, string>;
  artifactType?: string;
  /** Fixed creation time (the same files then give the same manifest); default now. */
  created?: Date | false;
  concurrency?: number;
  extraTags?: string[];
  signal?: AbortSignal;
}

/** What {@link pushFiles} pushed. */
export interface PushedArtifact {
  /** The manifest descriptor `copy` returned. */
  root: Descriptor;
  /** The layers in manifest order. */
  layers: Descriptor[];
  /** The manifest bytes. */
  bytes: Uint8Array;
}

/**
 * A push of files through the library the two-pass way (what `stowage push` does to an OCI layout):
 * `FileStore.add` every file (relative to `cwd`), `annotateFile`, `packManifest`, `addBytes` of the
 * generated blobs and the manifest, then `copy` to `target` under `tag`; the file store is closed
 * afterwards. To a registry, `stowage push` uploads files in one pass instead (`pushArtifact`).
 */
export async function pushFiles(target: Target, tag: string, cwd: string, files: readonly (string | PushFile)[], options: PushFilesOptions = {}): Promise<PushedArtifact> {
  const { annotations, artifactType, created, concurrency, extraTags, signal, ...hooks } = options;
  const store = new FileStore(cwd);
  try {
    const layers: Descriptor[] = [];
    for (const entry of files) {
      const file: PushFile = typeof entry === 'string' ? { path: entry } : entry;
      const desc = await store.add(file.path, {
        ...(file.title === undefined ? {} : { name: file.title }),
        ...(file.mediaType === undefined ? {} : { mediaType: file.mediaType }),
        ...(signal === undefined ? {} : { signal }),
      });
      layers.push(annotateFile(desc, file.annotations));
    }
    const packOptions: PackOptions = {
      files: layers,
      ...(annotations === undefined ? {} : { annotations }),
      ...(artifactType === undefined ? {} : { artifactType }),
      ...(created === undefined ? {} : { created }),
    };
    const packed = packManifest(packOptions);
    for (const blob of packed.blobs) store.addBytes(blob.descriptor, blob.bytes);
    store.addBytes(packed.descriptor, packed.bytes);
    const root = await copy(store, packed.descriptor.digest, target, tag, {
      ...hooks,
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(extraTags === undefined ? {} : { extraTags }),
      ...(signal === undefined ? {} : { signal }),
    });
    return { root, layers, bytes: packed.bytes };
  } finally {
    await store.close();
  }
}

/** Options of {@link pullFiles}. */
export interface PullFilesOptions extends CopyHooks, FileStoreOptions {
  concurrency?: number;
  signal?: AbortSignal;
}

/** What {@link pullFiles} pulled. */
export interface PulledArtifact {
  root: Descriptor;
  /** The titled blobs written (from `onDone`), in completion order. */
  written: Descriptor[];
}

/**
 * `stowage pull <src>:<reference> -o <outDir>` through the library: `copy` with `pullSuccessors` into a
 * `new FileStore(outDir, options)`, closed afterwards.
 */
export async function pullFiles(src: ReadOnlyTarget, reference: string, outDir: string, options: PullFilesOptions = {}): Promise<PulledArtifact> {
  const { keepOldFiles, allowPathTraversal, temporaryDirectory, concurrency, signal, onDone, ...hooks } = options;
  const store = new FileStore(outDir, {
    ...(keepOldFiles === undefined ? {} : { keepOldFiles }),
    ...(allowPathTraversal === undefined ? {} : { allowPathTraversal }),
    ...(temporaryDirectory === undefined ? {} : { temporaryDirectory }),
  });
  const written: Descriptor[] = [];
  try {
    const root = await copy(src, reference, store, undefined, {
      ...hooks,
      successors: pullSuccessors,
      onDone: (desc) => {
        if (titleOf(desc) !== undefined) written.push(desc);
        onDone?.(desc);
      },
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(signal === undefined ? {} : { signal }),
    });
    return { root, written };
  } finally {
    await store.close();
  }
}

/** A layer to put in a hand-made manifest: its bytes and annotations (title included), as given. */
export interface CraftedLayer {
  bytes: Uint8Array;
  annotations: Record<string, string>;
  mediaType?: string;
}

/**
 * Pushes a hand-built artifact manifest (empty config, the given layers with exactly the given annotations,
 * which `packManifest` and `FileStore` would not necessarily produce) and its blobs straight to `target`,
 * tagged `tag`. Returns the manifest.
 */
export async function pushCraftedArtifact(target: Target, tag: string, layers: readonly CraftedLayer[]): Promise<Blob> {
  const descriptors: Descriptor[] = [];
  for (const layer of layers) {
    const desc = { ...describeBytes(layer.bytes, layer.mediaType ?? MediaType.ociLayer), annotations: layer.annotations };
    await target.push(desc, layer.bytes);
    descriptors.push(desc);
  }
  const config: Descriptor = { mediaType: emptyDescriptor.mediaType, digest: emptyDescriptor.digest, size: emptyDescriptor.size };
  await target.push(config, emptyJson);
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: 'application/vnd.stowage.test', config, layers: descriptors }),
  );
  const manifest = { desc: describeBytes(bytes, MediaType.ociManifest), bytes };
  await target.push(manifest.desc, manifest.bytes);
  await target.tag(manifest.desc, tag);
  return manifest;
}

/** Size of the chunks {@link writeRandomFile} writes. */
export const mebibyte = 1024 * 1024;

/**
 * Writes `size` random bytes to `path` in 1 MiB chunks (never more than one chunk in memory) and returns
 * the file's `sha256:<hex>` digest.
 */
export async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(path, { flags: 'wx' });
  const closed = once(out, 'close');
  for (let written = 0; written < size; ) {
    const chunk = randomBytes(Math.min(mebibyte, size - written));
    hash.update(chunk);
    written += chunk.byteLength;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await closed;
  return `sha256:${hash.digest('hex')}`;
}

/** The `sha256:<hex>` digest of a file, streamed in 1 MiB chunks. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: mebibyte }) as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/** One entry of a directory tree, as a round trip must keep it. */
export type TreeEntry =
  | { type: 'file'; mode: number; size: number; digest: string }
  | { type: 'directory'; mode: number }
  | { type: 'symlink'; target: string }
  | { type: 'other' };

/**
 * Every entry under `dir` (not `dir` itself), keyed by its `/`-separated relative path, symlinks not
 * followed; modes are the permission bits.
 */
export async function snapshotTree(dir: string): Promise<Map<string, TreeEntry>> {
  const entries = new Map<string, TreeEntry>();
  const walk = async (current: string, prefix: string): Promise<void> => {
    const names: string[] = [];
    for await (const entry of await opendir(current)) names.push(entry.name);
    names.sort();
    for (const name of names) {
      const path = join(current, name);
      const rel = prefix === '' ? name : `${prefix}/${name}`;
      const info = await lstat(path);
      if (info.isSymbolicLink()) {
        entries.set(rel, { type: 'symlink', target: await readlink(path) });
      } else if (info.isDirectory()) {
        entries.set(rel, { type: 'directory', mode: info.mode & 0o7777 });
        await walk(path, rel);
      } else if (info.isFile()) {
        entries.set(rel, { type: 'file', mode: info.mode & 0o7777, size: info.size, digest: await sha256File(path) });
      } else {
        entries.set(rel, { type: 'other' });
      }
    }
  };
  await walk(dir, '');
  return entries;
}

/** Every path under `dir` (relative, `/`-separated, sorted), symlinks not followed. */
export async function listTree(dir: string): Promise<string[]> {
  return [...(await snapshotTree(dir)).keys()];
}

/** The paths under `dir` that look like stowage temporaries (`.stowage-*`). */
export async function temporariesIn(dir: string): Promise<string[]> {
  return (await listTree(dir)).filter((path) => path.split('/').some((part) => part.startsWith('.stowage-')));
}
