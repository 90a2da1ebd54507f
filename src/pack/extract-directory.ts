/**
 * A pushed directory back on disk: a tar+gzip blob is verified (blob digest, and the uncompressed tar
 * against `io.deis.oras.content.digest`), extracted into a temporary directory next to its target, checked
 * (every entry under the title prefix, every symlink and hardlink inside), then moved into place. Nothing
 * unverified ever appears under the target's name; a failure or abort removes the temporary directory.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, opendir, realpath, rename, rm, rmdir, symlink, unlink, utimes } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ExtractEvents } from 'tar-stream';
import { StowageError, abortError, describeError, isStowageError, throwIfAborted } from '../errors.js';
import { Hasher, parseDigest, verifyingStream } from '../oci/digest.js';
import type { Descriptor } from '../oci/schemas.js';
import type { OperationOptions } from '../content/store.js';
import { waitClosed } from '../content/wait-closed.js';
import { cleanPath } from './file-refs.js';
import { isMissing, isWithin, makeDirectoryWithin, symlinkStaysWithin, temporaryPathIn } from './path-guard.js';
import { hashingStream } from './tar-directory.js';
import { asBytes, writeAllInto } from './tar-streams.js';

type TarEntry = ExtractEvents['entry'][1];

/** Options of {@link extractDirectory}. */
export interface ExtractDirectoryOptions extends OperationOptions {
  /** The title: every entry must be it or below it; the prefix is stripped. */
  title: string;
  /** The expected digest of the uncompressed tar, when the descriptor carries one. */
  tarDigest?: string;
  /** Refuse to replace anything that exists (ORAS `--keep-old-files`). */
  keepOldFiles?: boolean;
  /** Where the temporary directory is made (same file system as `target`); default: `target`'s parent. */
  temporaryParent?: string;
  /** `target` is the output directory itself (title `.`): its own mode and times are left alone. */
  targetIsOutputRoot?: boolean;
}

interface DirectoryAttributes {
  rel: string;
  mode: number;
  mtime: Date;
}

/**
 * Extracts the tar+gzip `content` (the blob `desc`) so that its entries `<title>/x` land at `<target>/x`.
 * When `target` is already a directory the content is merged into it (files replaced one by one,
 * atomically), as ORAS does; `keepOldFiles` makes any clash an error before anything is moved.
 * @throws StowageError `DIGEST_MISMATCH` / `SIZE_MISMATCH` (blob or tar), `PATH_TRAVERSAL` (an entry
 *   outside the title, a link leading outside), `FILE_EXISTS` (`keepOldFiles`), `IO` (not gzip/tar, file
 *   system errors), `ABORTED`.
 */
export async function extractDirectory(content: Readable, desc: Descriptor, target: string, options: ExtractDirectoryOptions): Promise<void> {
  const what = `unpack ${options.title} (${desc.digest})`;
  const { signal } = options;
  throwIfAborted(signal, what);
  if (options.tarDigest !== undefined) parseDigest(options.tarDigest);
  const parent = options.temporaryParent ?? dirname(target);
  const temporary = temporaryPathIn(parent, 'tmp');
  await mkdir(temporary, { mode: 0o700 });
  try {
    const directories = await extractInto(content, desc, temporary, what, options);
    await checkSymlinks(temporary, what);
    throwIfAborted(signal, what);
    await moveIntoPlace(temporary, target, options.keepOldFiles === true, options.targetIsOutputRoot === true, what);
    await applyDirectoryAttributes(target, options.targetIsOutputRoot === true ? directories.filter((d) => d.rel !== '') : directories);
  } catch (error) {
    if (signal?.aborted === true) throw abortError(signal, what);
    if (isStowageError(error)) throw error;
    throw new StowageError('IO', `${what}: ${describeError(error)}`, { cause: error });
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/** The path of an entry relative to the title, `''` for the title itself. */
function entryPath(name: string, title: string, what: string): string {
  const outside = (): StowageError => new StowageError('PATH_TRAVERSAL', `${what}: archive entry "${name}" is outside "${title}"`);
  if (name.includes('\0')) throw outside();
  const clean = cleanPath(name);
  const prefix = cleanPath(title);
  if (prefix === '.') {
    if (clean === '.') return '';
    if (clean === '..' || clean.startsWith('../') || posix.isAbsolute(clean)) throw outside();
    return clean;
  }
  if (clean === prefix) return '';
  if (clean.startsWith(`${prefix}/`)) return clean.slice(prefix.length + 1);
  throw outside();
}

async function extractInto(content: Readable, desc: Descriptor, root: string, what: string, options: ExtractDirectoryOptions): Promise<DirectoryAttributes[]> {
  const { signal } = options;
  const rootReal = await realpath(root);
  const tarHasher = new Hasher(options.tarDigest === undefined ? 'sha256' : parseDigest(options.tarDigest).algorithm);
  // Loaded here, not at start-up: most runs of the CLI never unpack a directory.
  const { extract: tarExtract } = await import('tar-stream');
  const extract = tarExtract();
  const directories: DirectoryAttributes[] = [];
  const signalOption = signal === undefined ? {} : { signal };
  // Two stages, so that a blob whose bytes break the archive is still verified to its end: a tampered
  // blob is reported as DIGEST_MISMATCH, and only a blob with the right digest as a bad archive.
  const gunzip = createGunzip();
  const unpackFailed = new AbortController();
  const unpacking = pipeline(gunzip, hashingStream(tarHasher), (tar: AsyncIterable<unknown>) => writeAllInto(tar, extract, true), signalOption);
  unpacking.catch(() => {
    unpackFailed.abort();
  });
  const verifying = pipeline(
    content,
    verifyingStream(desc, what),
    async (verified: AsyncIterable<unknown>) => {
      for await (const chunk of verified) {
        // Once the archive side has failed, the rest of the blob is only verified.
        if (unpackFailed.signal.aborted || gunzip.destroyed) continue;
        if (!gunzip.write(asBytes(chunk))) {
          try {
            await once(gunzip, 'drain', { signal: unpackFailed.signal });
          } catch {
            // The archive side failed while we waited; keep verifying.
          }
        }
      }
      if (!unpackFailed.signal.aborted) gunzip.end();
    },
    signalOption,
  );
  // A blob that fails verification stops the archive side too (it would wait for more bytes forever).
  verifying.catch((error: unknown) => {
    gunzip.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  const consuming = (async () => {
    for await (const entry of extract) {
      throwIfAborted(signal, what);
      await writeEntry(entry, rootReal, options.title, what, directories);
    }
  })();
  const [verified, unpacked, consumed] = await Promise.allSettled([verifying, unpacking, consuming]);
  // The blob's own verification (digest, size, abort) comes first: it says whether the bytes can be trusted at all.
  if (verified.status === 'rejected') throw verified.reason;
  const reasons: unknown[] = [];
  for (const result of [consumed, unpacked]) if (result.status === 'rejected') reasons.push(result.reason);
  if (reasons.length > 0) {
    // Prefer a verification or path error from either side over the cancellation it caused on the other.
    const stowage = reasons.find((reason) => isStowageError(reason));
    if (stowage !== undefined) throw stowage;
    // A failure while writing an entry is the file system's; one in the stream is the archive's.
    if (consumed.status === 'rejected') throw new StowageError('IO', `${what}: ${describeError(consumed.reason)}`, { cause: consumed.reason });
    throw new StowageError('IO', `${what}: not a readable tar+gzip archive: ${describeError(reasons[0])}`, { cause: reasons[0] });
  }
  if (options.tarDigest !== undefined) {
    const actual = tarHasher.digest();
    if (actual !== options.tarDigest) {
      throw new StowageError('DIGEST_MISMATCH', `${what}: the uncompressed tar has digest ${actual}, expected ${options.tarDigest} (io.deis.oras.content.digest)`);
    }
  }
  return directories;
}

/** Removes whatever is at `path` unless it is a directory; returns true when a directory is there. */
async function clearForWrite(path: string): Promise<boolean> {
  try {
    const info = await lstat(path);
    if (info.isDirectory()) return true;
    await unlink(path);
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  return false;
}

async function writeEntry(entry: TarEntry, rootReal: string, title: string, what: string, directories: DirectoryAttributes[]): Promise<void> {
  const { header } = entry;
  const rel = entryPath(header.name, title, what);
  const path = rel === '' ? rootReal : join(rootReal, rel);
  const mode = header.mode & 0o777;
  const mtime = header.mtime;
  const type = header.type;
  if (type === 'directory') {
    entry.resume();
    if (rel !== '') {
      await makeDirectoryWithin(rootReal, dirname(path), what);
      if (!(await clearForWrite(path))) await mkdir(path, { mode: 0o700 });
    }
    directories.push({ rel, mode, mtime });
    return;
  }
  if (rel === '') {
    entry.resume();
    throw new StowageError('IO', `${what}: archive entry "${header.name}" should be the directory itself but is a ${type}`);
  }
  if (type === 'file' || type === 'contiguous-file') {
    await makeDirectoryWithin(rootReal, dirname(path), what);
    if (await clearForWrite(path)) {
      entry.resume();
      throw new StowageError('IO', `${what}: archive entry "${header.name}" is a file where a directory was extracted`);
    }
    // 'wx' (O_EXCL): never follows a symlink planted at the name.
    const sink = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    try {
      await pipeline(entry, sink);
    } catch (error) {
      // The temporary directory is removed after a failure: the file must be closed (and so exist) first.
      await waitClosed(sink);
      throw error;
    }
    await chmod(path, mode);
    await utimes(path, mtime, mtime);
    return;
  }
  entry.resume();
  if (type === 'symlink') {
    const linkname = typeof header.linkname === 'string' ? header.linkname : '';
    // A first, lexical check; the resolved one runs when every entry is in place (see checkSymlinks).
    const lexical = posix.normalize(posix.join(posix.dirname(rel), linkname));
    if (linkname === '' || posix.isAbsolute(linkname) || lexical === '..' || lexical.startsWith('../')) {
      throw new StowageError('PATH_TRAVERSAL', `${what}: symlink "${header.name}" -> "${linkname}" points outside "${title}"`);
    }
    await makeDirectoryWithin(rootReal, dirname(path), what);
    if (await clearForWrite(path)) throw new StowageError('IO', `${what}: symlink "${header.name}" would replace a directory`);
    await symlink(linkname, path);
    return;
  }
  if (type === 'link') {
    const linkname = typeof header.linkname === 'string' ? header.linkname : '';
    const sourceRel = entryPath(linkname, title, what);
    const source = join(rootReal, sourceRel);
    let sourceReal: string;
    try {
      sourceReal = await realpath(source);
    } catch {
      throw new StowageError('PATH_TRAVERSAL', `${what}: hardlink "${header.name}" -> "${linkname}": the target is not an extracted file`);
    }
    if (sourceRel === '' || !isWithin(rootReal, sourceReal) || !(await lstat(sourceReal)).isFile()) {
      throw new StowageError('PATH_TRAVERSAL', `${what}: hardlink "${header.name}" -> "${linkname}" does not point to a file inside "${title}"`);
    }
    await makeDirectoryWithin(rootReal, dirname(path), what);
    if (await clearForWrite(path)) throw new StowageError('IO', `${what}: hardlink "${header.name}" would replace a directory`);
    await link(sourceReal, path);
  }
  // Devices, FIFOs and other special entries are not recreated.
}

interface Listed {
  name: string;
  path: string;
  isDirectory: boolean;
  isSymbolicLink: boolean;
}

/** The entries of `dir`, typed by lstat (directory entry types are not reliable on every file system). */
async function list(dir: string): Promise<Listed[]> {
  const result: Listed[] = [];
  for await (const entry of await opendir(dir)) {
    const path = join(dir, entry.name);
    const info = await lstat(path);
    result.push({ name: entry.name, path, isDirectory: info.isDirectory(), isSymbolicLink: info.isSymbolicLink() });
  }
  return result;
}

/** Every symlink, resolved as the kernel would once everything is in place, must stay inside the root. */
async function checkSymlinks(root: string, what: string): Promise<void> {
  const rootReal = await realpath(root);
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const entry of await list(dir)) {
      const entryRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isSymbolicLink) {
        if (!(await symlinkStaysWithin(rootReal, entry.path))) {
          throw new StowageError('PATH_TRAVERSAL', `${what}: symlink "${entryRel}" resolves to a place outside the directory`);
        }
      } else if (entry.isDirectory) {
        await walk(entry.path, entryRel);
      }
    }
  };
  await walk(rootReal, '');
}

async function kindOf(path: string): Promise<'missing' | 'directory' | 'other'> {
  try {
    return (await lstat(path)).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    if (isMissing(error)) return 'missing';
    throw error;
  }
}

/** With `keepOldFiles`: the first path the merge of `source` into `destination` would replace. */
async function findClash(source: string, destination: string, rel: string): Promise<string | undefined> {
  for (const entry of await list(source)) {
    const to = join(destination, entry.name);
    const kind = await kindOf(to);
    if (kind === 'missing') continue;
    const entryRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (kind === 'directory' && entry.isDirectory) {
      const clash = await findClash(entry.path, to, entryRel);
      if (clash !== undefined) return clash;
    } else {
      return entryRel;
    }
  }
  return undefined;
}

/** Moves the entries of `source` into the existing directory `destination`, never following a symlink there. */
async function merge(source: string, destination: string, what: string): Promise<void> {
  for (const entry of await list(source)) {
    const to = join(destination, entry.name);
    const kind = await kindOf(to);
    if (kind === 'directory') {
      if (!entry.isDirectory) throw new StowageError('IO', `${what}: ${to} is a directory and would be replaced by a file`);
      await merge(entry.path, to, what);
      continue;
    }
    // A file or symlink in the way is replaced (rename is atomic for files); a directory cannot rename over one.
    if (kind === 'other' && entry.isDirectory) await unlink(to);
    await rename(entry.path, to);
  }
}

async function moveIntoPlace(source: string, target: string, keepOldFiles: boolean, targetIsOutputRoot: boolean, what: string): Promise<void> {
  const kind = await kindOf(target);
  if (keepOldFiles && kind !== 'missing' && !targetIsOutputRoot) throw new StowageError('FILE_EXISTS', `${what}: ${target} already exists`);
  if (kind === 'other') throw new StowageError('IO', `${what}: ${target} exists and is not a directory`);
  if (kind === 'missing') {
    try {
      await rename(source, target);
      return;
    } catch (error) {
      // Another push created the directory meanwhile (a file titled inside it): merge instead.
      if ((await kindOf(target)) !== 'directory') throw error;
      if (keepOldFiles && !targetIsOutputRoot) throw new StowageError('FILE_EXISTS', `${what}: ${target} already exists`);
    }
  }
  if (keepOldFiles) {
    const clash = await findClash(source, target, '');
    if (clash !== undefined) throw new StowageError('FILE_EXISTS', `${what}: ${join(target, clash)} already exists`);
  }
  await merge(source, target, what);
  await rmdir(source).catch(() => undefined);
}

/** Directory modes and times last: writing into a directory changes its mtime, and a read-only one could not be filled. */
async function applyDirectoryAttributes(target: string, directories: DirectoryAttributes[]): Promise<void> {
  const deepestFirst = [...directories].sort((a, b) => b.rel.split('/').length - a.rel.split('/').length);
  for (const { rel, mode, mtime } of deepestFirst) {
    const path = rel === '' ? target : join(target, rel);
    const info = await lstat(path).catch(() => undefined);
    if (info?.isDirectory() !== true) continue;
    await chmod(path, mode);
    await utimes(path, mtime, mtime);
  }
}
