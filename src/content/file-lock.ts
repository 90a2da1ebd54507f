/**
 * An exclusive lock between processes: a lock file created with `O_EXCL`. Used around read-modify-write of
 * an OCI layout's index.json, which ORAS does without one and so loses entries when two processes write
 * (oras#149).
 */
import { hostname } from 'node:os';
import { open, rm, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortError, describeError, StowageError, throwIfAborted, errnoCode } from '../errors.js';

/** A lock older than this is taken to belong to a process that died holding it: 30 s. */
export const defaultStaleLockMs = 30_000;

export interface FileLockOptions {
  /** Names the operation in error messages. */
  what: string;
  signal?: AbortSignal | undefined;
  /** A lock file whose mtime is older than this many milliseconds is removed and taken over. */
  staleMs?: number;
}

/** Releases a lock taken by {@link acquireFileLock}; never throws. */
export type ReleaseLock = () => Promise<void>;

interface LockIdentity {
  ino: number;
  mtimeMs: number;
}

const firstDelayMs = 2;
const maxDelayMs = 100;

/**
 * Takes the lock `lockPath`, waiting with exponential backoff and jitter while another holder has it, and
 * taking over a lock older than `staleMs`.
 * @throws StowageError `ABORTED`, `IO` (the lock file cannot be created for another reason than existing).
 */
export async function acquireFileLock(lockPath: string, options: FileLockOptions): Promise<ReleaseLock> {
  const { what, signal } = options;
  const staleMs = options.staleMs ?? defaultStaleLockMs;
  let delay = firstDelayMs;
  for (;;) {
    throwIfAborted(signal, what);
    const identity = await tryCreate(lockPath, what);
    if (identity !== undefined) return () => release(lockPath, identity);
    if (await removeIfStale(lockPath, staleMs, what)) continue;
    try {
      await sleep(delay * (0.5 + Math.random()), undefined, signal === undefined ? {} : { signal });
    } catch (error) {
      throw signal?.aborted === true ? abortError(signal, what) : error;
    }
    delay = Math.min(delay * 2, maxDelayMs);
  }
}

/** Creates the lock file exclusively; undefined when it already exists. */
async function tryCreate(lockPath: string, what: string): Promise<LockIdentity | undefined> {
  let handle;
  try {
    handle = await open(lockPath, 'wx', 0o644);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return undefined;
    throw new StowageError('IO', `${what}: cannot create lock file ${lockPath}: ${describeError(error)}`, { cause: error });
  }
  try {
    // For people looking at a lock left behind; the lock itself is the file's existence.
    await handle.writeFile(`${JSON.stringify({ pid: process.pid, host: hostname(), created: new Date().toISOString() })}\n`);
    const stats = await handle.stat();
    return { ino: stats.ino, mtimeMs: stats.mtimeMs };
  } finally {
    await handle.close();
  }
}

/**
 * Removes the lock when it is stale. A second lock file guards the removal, so that of two processes finding
 * the same stale lock, the later one does not remove the lock the earlier one has just taken: inside the
 * guard the lock is removed only when it is still the same file (inode and mtime) that was found stale.
 * Returns true when the caller should retry at once.
 */
async function removeIfStale(lockPath: string, staleMs: number, what: string): Promise<boolean> {
  const found = await statOrUndefined(lockPath);
  if (found === undefined) return true;
  if (Date.now() - found.mtimeMs < staleMs) return false;
  const guardPath = `${lockPath}.takeover`;
  const guard = await tryCreate(guardPath, what);
  if (guard === undefined) {
    // Another process is taking over; its guard is stale only if it died in these few lines.
    const guardStats = await statOrUndefined(guardPath);
    if (guardStats !== undefined && Date.now() - guardStats.mtimeMs >= staleMs) await rm(guardPath, { force: true });
    return false;
  }
  try {
    const again = await statOrUndefined(lockPath);
    if (again !== undefined && again.ino === found.ino && again.mtimeMs === found.mtimeMs) await rm(lockPath, { force: true });
    return true;
  } finally {
    await release(guardPath, guard);
  }
}

/** Removes the lock file when it is still ours (not taken over as stale and replaced). */
async function release(lockPath: string, identity: LockIdentity): Promise<void> {
  try {
    const current = await statOrUndefined(lockPath);
    if (current !== undefined && current.ino === identity.ino && current.mtimeMs === identity.mtimeMs) {
      await rm(lockPath, { force: true });
    }
  } catch {
    // A lock we cannot remove goes stale and is taken over; releasing must not hide the operation's result.
  }
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Re-exported for the stores that import it from here. */
export { errnoCode } from '../errors.js';
