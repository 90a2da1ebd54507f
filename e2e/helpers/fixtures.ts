/**
 * What the e2e tests share besides running processes: a private workspace (HOME, DOCKER_CONFIG and TMPDIR
 * of its own, so neither stowage nor oras ever reads real credentials), the standard set of files to push,
 * and tree snapshots (sha256 of every file, symlink targets, empty directories) to compare pulls with.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { RunResult } from './cli.js';

export interface Workspace {
  /** The workspace root (a fresh temp dir). */
  dir: string;
  /** Environment for child processes: private HOME, DOCKER_CONFIG, TMPDIR; SOURCE_DATE_EPOCH unset. */
  env: Record<string, string>;
  /** The private TMPDIR the children use (to check they leave nothing behind). */
  tmp: string;
  /** A path inside the workspace. */
  path(...parts: string[]): string;
  /** A fresh empty directory inside the workspace. */
  mkdir(...parts: string[]): Promise<string>;
  cleanup(): Promise<void>;
}

/** Creates a private workspace under the OS temp dir. */
export async function workspace(prefix: string): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), `stowage-e2e-${prefix}-`));
  const home = join(dir, 'home');
  const tmp = join(dir, 'tmp');
  await mkdir(join(home, '.docker'), { recursive: true });
  await mkdir(tmp);
  return {
    dir,
    tmp,
    // An empty SOURCE_DATE_EPOCH counts as unset, so one in the caller's environment cannot leak in.
    env: { HOME: home, DOCKER_CONFIG: join(home, '.docker'), TMPDIR: tmp, SOURCE_DATE_EPOCH: '' },
    path: (...parts) => join(dir, ...parts),
    async mkdir(...parts) {
      const path = join(dir, ...parts);
      await mkdir(path, { recursive: true });
      return path;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A name with non-ASCII letters, a space and an emoji (four bytes in UTF-8). */
export const unicodeName = 'données 📦.txt';

/** What {@link makeFixture} created: the arguments to push, in order. */
export interface Fixture {
  /** The source directory (push from here, with it as cwd). */
  dir: string;
  /** Regular files at the top: a text file, an empty file, the unicode-named file. */
  files: string[];
  /** The directory: nested files, a relative symlink, an empty subdirectory. */
  directory: string;
}

/** Deterministic pseudo-random bytes (so a failure can be reproduced byte for byte). */
export function patternBytes(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/**
 * Creates, in `dir`: `hello.txt`, `empty.txt`, `données 📦.txt`, and `tree/` with `top.txt`,
 * `sub/deep/nested.bin` (192 KiB), `sub/notes.md`, `link -> sub/deep/nested.bin` and the empty `void/`.
 * `seed` varies the bytes, so two fixtures do not share blobs.
 */
export async function makeFixture(dir: string, seed = 1): Promise<Fixture> {
  await mkdir(join(dir, 'tree', 'sub', 'deep'), { recursive: true });
  await mkdir(join(dir, 'tree', 'void'));
  await writeFile(join(dir, 'hello.txt'), `hello from stowage ${seed}\n`);
  await writeFile(join(dir, 'empty.txt'), '');
  await writeFile(join(dir, unicodeName), `unicode ${seed} ✓\n`);
  await writeFile(join(dir, 'tree', 'top.txt'), `top ${seed}\n`);
  await writeFile(join(dir, 'tree', 'sub', 'deep', 'nested.bin'), patternBytes(192 * 1024, seed));
  await writeFile(join(dir, 'tree', 'sub', 'notes.md'), `# notes ${seed}\n`);
  await symlink('sub/deep/nested.bin', join(dir, 'tree', 'link'));
  return { dir, files: ['hello.txt', 'empty.txt', unicodeName], directory: 'tree' };
}

/**
 * Every entry under `root`, by relative path: `dir`, `file sha256:<hex> <size>` or `symlink -> <target>`.
 * Symlinks are not followed.
 */
export async function snapshotTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(root, rel));
    for (const name of entries.sort()) {
      const relPath = rel === '' ? name : `${rel}/${name}`;
      const full = join(root, relPath);
      const info = await lstat(full);
      if (info.isSymbolicLink()) {
        out[relPath] = `symlink -> ${await readlink(full)}`;
      } else if (info.isDirectory()) {
        out[relPath] = 'dir';
        await walk(relPath);
      } else if (info.isFile()) {
        const bytes = await readFile(full);
        out[relPath] = `file sha256:${createHash('sha256').update(bytes).digest('hex')} ${bytes.byteLength}`;
      } else {
        out[relPath] = 'other';
      }
    }
  };
  await walk('');
  return out;
}

/** sha256:<hex> of bytes. */
export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Parses stdout as one JSON document (fails the test with the output when it is not). */
export function parseJsonOutput(result: RunResult): unknown {
  try {
    return JSON.parse(result.stdout) as unknown;
  } catch {
    throw new Error(`stdout is not one JSON document:\n${result.stdout}\nstderr: ${result.stderr}`);
  }
}

/** The lines a process wrote to stderr, without empty ones. */
export function stderrLines(result: RunResult): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() !== '');
}

/**
 * Asserts the failure shape every command shares: the exit code, nothing on stdout, exactly one
 * `Error: ` line on stderr (optionally followed by one `Hint: ` line) that contains each of `mentions`,
 * and no stack trace. Returns the error line.
 */
export function expectOneError(result: RunResult, code: number, mentions: readonly (string | RegExp)[]): string {
  const lines = stderrLines(result);
  const context = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
  expect(result.code, context).toBe(code);
  expect(result.stdout, context).toBe('');
  expect(lines.length, context).toBeGreaterThanOrEqual(1);
  expect(lines.length, context).toBeLessThanOrEqual(2);
  const [errorLine = '', hintLine] = lines;
  expect(errorLine, context).toMatch(/^Error: \S/);
  if (hintLine !== undefined) expect(hintLine, context).toMatch(/^Hint: \S/);
  expect(result.stderr, context).not.toMatch(/^\s+at /m);
  for (const mention of mentions) {
    if (typeof mention === 'string') expect(errorLine, context).toContain(mention);
    else expect(errorLine, context).toMatch(mention);
  }
  return errorLine;
}

/** The names in `dir`, sorted (empty when it does not exist). */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Every path under `dir` (recursively) whose name looks like a stowage temporary file. */
export async function temporaryFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string): Promise<void> => {
    for (const entry of await readdir(path, { withFileTypes: true }).catch(() => [])) {
      const full = join(path, entry.name);
      if (/^\.stowage-|\.partial$|\.tmp$/.test(entry.name)) found.push(full);
      if (entry.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return found;
}

/** A manifest read straight from an OCI layout directory: the index.json entry for `tag`, and the blob's bytes. */
export interface LayoutManifest {
  digest: string;
  bytes: Buffer;
  json: Record<string, unknown>;
}

/** Reads the manifest `tag` names in the OCI layout at `layout` from index.json and blobs/, without stowage. */
export async function readLayoutManifest(layout: string, tag: string): Promise<LayoutManifest> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((item) => item.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (entry === undefined) throw new Error(`no manifest tagged ${tag} in ${layout}/index.json`);
  const bytes = await readLayoutBlob(layout, entry.digest);
  return { digest: entry.digest, bytes, json: JSON.parse(bytes.toString('utf8')) as Record<string, unknown> };
}

/** The path of a blob in an OCI layout. */
export function layoutBlobPath(layout: string, digest: string): string {
  const [algorithm = '', hex = ''] = digest.split(':');
  return join(layout, 'blobs', algorithm, hex);
}

/** The bytes of a blob in an OCI layout. */
export function readLayoutBlob(layout: string, digest: string): Promise<Buffer> {
  return readFile(layoutBlobPath(layout, digest));
}
