/**
 * Path safety for writing artifacts to disk: titles must land inside the output directory, lexically and
 * after resolving the symlinks that already exist on the way; archive entries and link targets must stay
 * inside the directory being extracted.
 */
import { lstat, mkdir, readlink, realpath } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { StowageError, describeError, errnoCode } from '../errors.js';

/** True when `child` is `parent` or below it (both absolute). */
export function isWithin(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** True for the errors that mean "this path does not exist (as a directory chain)". */
export function isMissing(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The deepest path from `path` upwards that exists (as an entry, symlinks not followed). */
async function deepestExisting(path: string): Promise<string> {
  let current = path;
  for (;;) {
    try {
      await lstat(current);
      return current;
    } catch (error) {
      if (!isMissing(error)) throw error;
      const parent = dirname(current);
      if (parent === current) throw error;
      current = parent;
    }
  }
}

/**
 * True when the deepest existing ancestor of `path` (itself included) resolves, symlinks followed, to a
 * place inside `rootReal` (a real path). A dangling symlink or a loop counts as outside.
 */
export async function existingPartIsWithin(rootReal: string, path: string): Promise<boolean> {
  const existing = await deepestExisting(path);
  let real: string;
  try {
    real = await realpath(existing);
  } catch {
    return false;
  }
  return isWithin(rootReal, real);
}

/** Options of {@link resolveOutputPath}. */
export interface OutputPathOptions {
  /** Allow titles that leave the output directory (ORAS `--allow-path-traversal`). */
  allowPathTraversal?: boolean;
  /**
   * The real path of the output directory, when the caller resolved it already ({@link realOutputRoot}):
   * a pull checks every file against it, and need not resolve it again each time.
   */
  rootReal?: string;
}

/**
 * The real path (symlinks resolved) of the output directory `root`, which must exist.
 * @throws StowageError `IO` when it cannot be resolved.
 */
export async function realOutputRoot(root: string): Promise<string> {
  try {
    return await realpath(resolve(root));
  } catch (error) {
    throw new StowageError('IO', `output directory ${root}: ${describeError(error)}`, { cause: error });
  }
}

function traversal(title: string, root: string, reason: string): StowageError {
  return new StowageError(
    'PATH_TRAVERSAL',
    `refusing to write "${title}": ${reason} the output directory ${root}; use --allow-path-traversal if this is intended`,
  );
}

/**
 * Where the file or directory titled `title` goes under the output directory `root` (which must exist).
 * Refuses absolute titles, titles that climb out lexically, and titles whose existing parent directories
 * resolve through a symlink to outside, unless `allowPathTraversal`. A symlink at the target itself is
 * not followed here: files replace it; see {@link resolveDirectoryTarget} for directories.
 * @throws StowageError `PATH_TRAVERSAL`; `IO` when the output directory cannot be resolved.
 */
export async function resolveOutputPath(root: string, title: string, options: OutputPathOptions = {}): Promise<string> {
  if (title.includes('\0')) throw traversal(title.replaceAll('\0', '\\0'), root, 'a NUL byte in the name cannot be written in');
  const target = resolve(root, title);
  if (options.allowPathTraversal === true) return target;
  if (isAbsolute(title)) throw traversal(title, root, 'an absolute path is outside');
  const rootAbsolute = resolve(root);
  if (!isWithin(rootAbsolute, target)) throw traversal(title, root, 'it would land outside');
  if (target === rootAbsolute) return target;
  // A file right in the output directory, whose real path the caller has: no parent left to check.
  if (options.rootReal !== undefined && dirname(target) === rootAbsolute) return target;
  const rootReal = options.rootReal ?? (await realOutputRoot(root));
  // The parents must resolve inside; a symlink at the target itself is replaced, never written through.
  if (!(await existingPartIsWithin(rootReal, dirname(target)))) throw traversal(title, root, 'a symlink on its way leads outside');
  return target;
}

/**
 * Where a directory titled `title` is unpacked, given the checked `target`: the target itself, or when it
 * is a symlink to a directory, the directory it resolves to, provided that stays inside `root` (unless
 * `allowPathTraversal`).
 * @throws StowageError `PATH_TRAVERSAL` for a symlink leading outside or a dangling one.
 */
export async function resolveDirectoryTarget(root: string, target: string, title: string, options: OutputPathOptions = {}): Promise<string> {
  try {
    if (!(await lstat(target)).isSymbolicLink()) return target;
  } catch (error) {
    if (isMissing(error)) return target;
    throw error;
  }
  let real: string;
  try {
    real = await realpath(target);
  } catch {
    throw traversal(title, root, 'it is a dangling symlink, which could lead outside');
  }
  if (options.allowPathTraversal !== true && !isWithin(await realpath(root), real)) throw traversal(title, root, 'it is a symlink that leads outside');
  return real;
}

/**
 * Creates directory `dir` (and its parents) after checking that the part of it that exists resolves
 * inside `rootReal`, so that no directory is ever created through a symlink that leads out.
 * @throws StowageError `PATH_TRAVERSAL`, or the fs error.
 */
export async function makeDirectoryWithin(rootReal: string, dir: string, what: string): Promise<void> {
  if (!(await existingPartIsWithin(rootReal, dir))) {
    throw new StowageError('PATH_TRAVERSAL', `${what}: a symlink in the way leads outside ${rootReal}`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

// Linux's MAXSYMLINKS.
const maxSymlinkHops = 40;

/**
 * True when the symlink at `linkPath` resolves, the way the kernel would walk it, to a place inside
 * `rootReal`, never leaving it on the way. Parts that do not exist are taken lexically; absolute targets,
 * loops and too many hops count as outside.
 */
export async function symlinkStaysWithin(rootReal: string, linkPath: string): Promise<boolean> {
  let current: string;
  try {
    current = await realpath(dirname(linkPath));
  } catch {
    return false;
  }
  if (!isWithin(rootReal, current)) return false;
  const queue = (await readlink(linkPath)).split('/');
  if (queue[0] === '') return false;
  let hops = 0;
  while (queue.length > 0) {
    const part = queue.shift();
    if (part === undefined || part === '' || part === '.') continue;
    if (part === '..') {
      current = dirname(current);
      if (!isWithin(rootReal, current)) return false;
      continue;
    }
    const next = join(current, part);
    let isLink = false;
    try {
      isLink = (await lstat(next)).isSymbolicLink();
    } catch (error) {
      if (!isMissing(error)) return false;
    }
    if (!isLink) {
      current = next;
      continue;
    }
    hops++;
    if (hops > maxSymlinkHops) return false;
    const target = await readlink(next);
    if (target.startsWith('/')) return false;
    queue.unshift(...target.split('/'));
  }
  return isWithin(rootReal, current);
}

/** A fresh name for a temporary file or directory in `dir` (hidden, so a crash leaves it out of sight). */
export function temporaryPathIn(dir: string, suffix: string): string {
  return join(dir, `.stowage-${randomBytes(8).toString('hex')}.${suffix}`);
}
