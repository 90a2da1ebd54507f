/**
 * The state directory: what stowage remembers between runs (file digests, upload sessions to resume), as
 * small JSON files written atomically with owner-only permissions (upload locations grant write access to a
 * session).
 */
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, StowageError } from '../errors.js';
import { isMissing } from '../pack/path-guard.js';

/**
 * Where stowage keeps state between runs: `$STOWAGE_STATE_DIR`, else `$XDG_STATE_HOME/stowage`, else
 * `~/.local/state/stowage` (XDG Base Directory spec: "state data that should persist between restarts").
 */
export function defaultStateDirectory(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const own = env.STOWAGE_STATE_DIR;
  if (own !== undefined && own !== '') return own;
  const xdg = env.XDG_STATE_HOME;
  // The spec says relative paths are invalid and must be ignored.
  if (xdg !== undefined && xdg.startsWith('/')) return join(xdg, 'stowage');
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
  return join(home, '.local', 'state', 'stowage');
}

/**
 * Creates `directory` (and its parents) with mode 0700 for the last level.
 * @throws StowageError `IO`.
 */
export async function ensureStateDirectory(directory: string): Promise<void> {
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new StowageError('IO', `create the state directory ${directory}: ${describeError(error)}`, { cause: error });
  }
}

/** The JSON in `path`, parsed but not validated; undefined when the file is missing or not JSON. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw new StowageError('IO', `read ${path}: ${describeError(error)}`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Writes `value` as JSON to `path` atomically (a temp file beside it, then rename), mode 0600.
 * @throws StowageError `IO`.
 */
export async function writeJsonFile(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(value));
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new StowageError('IO', `write ${path}: ${describeError(error)}`, { cause: error });
  }
}
