/**
 * A directory as ORAS pushes it: a tar whose entries are prefixed by the directory's title (uid/gid 0,
 * modes and mtimes kept, symlinks kept as symlinks, hardlinks stored as files), gzip-compressed. The
 * uncompressed tar and the gzip are hashed in the same pass that writes the gzip to disk.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, opendir, readlink, rm, stat } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Header, Pack } from 'tar-stream';
import { StowageError, abortError, describeError, isStowageError, throwIfAborted } from '../errors.js';
import { Hasher } from '../oci/digest.js';
import type { OperationOptions } from '../content/store.js';
import { asBytes, writeAllInto } from './tar-streams.js';

type EntryHeader = Partial<Header> & Pick<Header, 'name'>;

/** What packing a directory produced. */
export interface TarDirectoryResult {
  /** Digest of the gzip file. */
  digest: string;
  /** Size of the gzip file. */
  size: number;
  /** Digest of the uncompressed tar (`io.deis.oras.content.digest`). */
  tarDigest: string;
}

/** Files are read in chunks of this size. */
export const readChunkSize = 1024 * 1024;

/** A pass-through stream that feeds a hasher. */
export function hashingStream(hasher: Hasher): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hasher.update(chunk);
      callback(null, chunk);
    },
  });
}

/** Go's archive/tar rounds modification times to the nearest second; so do we, to match ORAS. */
function tarTime(mtimeMs: number): Date {
  return new Date(Math.round(mtimeMs / 1000) * 1000);
}

/** Names in a directory, in Go's `filepath.Walk` order (sorted by their UTF-8 bytes). */
async function sortedNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  const handle = await opendir(dir);
  for await (const entry of handle) names.push(entry.name);
  return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Adds one entry and waits until the pack stream has taken all of it. */
function addEntry(tar: Pack, header: EntryHeader, file: string | undefined, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolvePromise, reject) => {
    const sink = tar.entry(header, (error) => {
      if (error) reject(error);
      else resolvePromise();
    });
    if (header.type !== 'file') return;
    const size = header.size ?? 0;
    if (size === 0 || file === undefined) {
      sink.end(undefined);
      return;
    }
    // Read exactly the size the header announces: a file that grows meanwhile cannot corrupt the tar, and
    // one that shrinks fails the entry.
    const source = createReadStream(file, { highWaterMark: readChunkSize, start: 0, end: size - 1, ...(signal === undefined ? {} : { signal }) });
    writeAllInto(source, sink, false).catch(reject);
  });
}

async function addTree(tar: Pack, dir: string, name: string, skip: ReadonlySet<string>, signal: AbortSignal | undefined): Promise<void> {
  for (const child of await sortedNames(dir)) {
    throwIfAborted(signal, `pack ${dir}`);
    const path = join(dir, child);
    // The archive being written, when the directory packed holds it.
    if (skip.has(path)) continue;
    const entryName = posix.join(name, child);
    const info = await lstat(path);
    const common = { name: entryName, mode: info.mode, uid: 0, gid: 0, mtime: tarTime(info.mtimeMs) };
    if (info.isDirectory()) {
      await addEntry(tar, { ...common, type: 'directory' }, undefined, signal);
      await addTree(tar, path, entryName, skip, signal);
    } else if (info.isFile()) {
      await addEntry(tar, { ...common, type: 'file', size: info.size }, path, signal);
    } else if (info.isSymbolicLink()) {
      await addEntry(tar, { ...common, type: 'symlink', linkname: await readlink(path) }, undefined, signal);
    }
    // Sockets, FIFOs and devices have no content to carry; they are left out.
  }
}

/**
 * Writes `dir` as a tar+gzip file at `destination` (created; removed again on failure), entries prefixed
 * with `prefix` (the title; `.` gives unprefixed entries, as ORAS does).
 * @throws StowageError `FILE_NOT_FOUND` when the directory cannot be read, `IO`, `ABORTED`.
 */
export async function tarGzipDirectory(dir: string, prefix: string, destination: string, options: OperationOptions = {}): Promise<TarDirectoryResult> {
  const { signal } = options;
  const what = `pack directory ${dir}`;
  throwIfAborted(signal, what);
  const rootInfo = await stat(dir).catch((error: unknown) => {
    throw new StowageError('FILE_NOT_FOUND', `${what}: ${describeError(error)}`, { cause: error });
  });
  // Loaded here, not at start-up: most runs of the CLI never pack a directory.
  const { pack: tarPack } = await import('tar-stream');
  const tarHasher = new Hasher();
  const gzipHasher = new Hasher();
  const tar = tarPack();
  const writing = pipeline(
    async function* (): AsyncGenerator<Uint8Array> {
      for await (const chunk of tar) yield asBytes(chunk);
    },
    hashingStream(tarHasher),
    createGzip(),
    hashingStream(gzipHasher),
    createWriteStream(destination, { flags: 'wx', mode: 0o600 }),
    signal === undefined ? {} : { signal },
  );
  const feeding = (async () => {
    await addEntry(tar, { name: prefix, type: 'directory', mode: rootInfo.mode, uid: 0, gid: 0, mtime: tarTime(rootInfo.mtimeMs) }, undefined, signal);
    const skip = new Set([resolve(destination), dirname(resolve(destination))]);
    await addTree(tar, resolve(dir), prefix, skip, signal);
    tar.finalize();
  })();
  feeding.catch((error: unknown) => {
    tar.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  const [fed, written] = await Promise.allSettled([feeding, writing]);
  if (fed.status === 'rejected' || written.status === 'rejected') {
    await rm(destination, { force: true });
    if (signal?.aborted === true) throw abortError(signal, what);
    const error: unknown = fed.status === 'rejected' ? fed.reason : written.status === 'rejected' ? written.reason : undefined;
    if (isStowageError(error)) throw error;
    throw new StowageError('IO', `${what}: ${describeError(error)}`, { cause: error });
  }
  return { digest: gzipHasher.digest(), size: gzipHasher.size, tarDigest: tarHasher.digest() };
}
