/**
 * Loads the CLI, one script (dist/cli-script.js, see scripts/bundle-cli.js), with V8's code cache. Node 20
 * has no compile cache of its own: compiling the 2.7 MB bundle took ~80 ms of every run on a 2-core
 * machine, and the functions a run needed compiled again each time. With the cache, `stowage version`
 * takes 0.115 s of CPU instead of 0.205 s and 0.155 s of wall time instead of 0.25 s (medians of 10), in
 * the same memory.
 *
 * The cache is a file in stowage's cache directory, the one oclif gives the CLI (autocomplete keeps its
 * files there too): `$STOWAGE_CACHE_DIR`, else `~/Library/Caches/stowage` on macOS, else
 * `$XDG_CACHE_HOME/stowage` (on Windows `%LOCALAPPDATA%\stowage`), else `~/.cache/stowage`. It is named
 * after the bundle's sha256 and the Node.js build. V8 checks it against the script and refuses one that does
 * not match: the script is then compiled as usual, and the cache written again when the process exits (it
 * then holds the functions that run compiled). `STOWAGE_CODE_CACHE=0` turns it off.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const bundle = fileURLToPath(new URL('../dist/cli-script.js', import.meta.url));
const prefix = 'cli-';
const suffix = '.v8cache';

/** stowage's cache directory, as oclif's `config.cacheDir` is made. */
function cacheDirectory() {
  const { env, platform } = process;
  if (env.STOWAGE_CACHE_DIR) return env.STOWAGE_CACHE_DIR;
  if (platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'stowage');
  return join(env.XDG_CACHE_HOME || (platform === 'win32' && env.LOCALAPPDATA) || join(homedir(), '.cache'), 'stowage');
}

/**
 * Where the code cache of the bundle for this Node.js build lives, named by the bundle's sha256 (written
 * beside it by the build: V8 checks a cache only against the length of the source); undefined when off or
 * nowhere to put it.
 */
function cacheFileOf(script) {
  if (process.env.STOWAGE_CODE_CACHE === '0') return undefined;
  try {
    const id = readFileSync(script.replace(/\.js$/, '.sha256'), 'utf8').trim().slice(0, 16);
    if (!/^[0-9a-f]{16}$/.test(id)) return undefined;
    return join(cacheDirectory(), `${prefix}${process.version}-${process.arch}-${id}${suffix}`);
  } catch {
    return undefined;
  }
}

function readCache(file) {
  try {
    return file === undefined ? undefined : readFileSync(file);
  } catch {
    return undefined;
  }
}

/**
 * Caches of other builds older than this are dropped when a cache is written. Newer ones stay: two builds
 * in use side by side (a global install and a checkout) would otherwise drop each other's at every run.
 */
const staleAfterMs = 30 * 24 * 60 * 60 * 1000;

/** Writes the cache whole (a temporary name, then a rename) and drops the stale caches of other builds. */
function writeCache(file, data) {
  try {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, data);
      renameSync(temporary, file);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    }
    for (const name of readdirSync(dir)) {
      const other = join(dir, name);
      if (name.startsWith(prefix) && name.endsWith(suffix) && other !== file && Date.now() - statSync(other).mtimeMs > staleAfterMs) unlinkSync(other);
    }
  } catch {
    // A cache that cannot be written only costs the next run its compile time.
  }
}

let loaded;

/** The bundle's exports (`commands`, `execute`), loaded once a process. */
export function loadCli() {
  if (loaded !== undefined) return loaded;
  const cacheFile = cacheFileOf(bundle);
  const cachedData = readCache(cacheFile);
  const script = new Script(readFileSync(bundle, 'utf8'), { filename: bundle, ...(cachedData === undefined ? {} : { cachedData }) });
  if (cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    process.once('exit', () => {
      writeCache(cacheFile, script.createCachedData());
    });
  }
  const cli = { exports: {} };
  script.runInThisContext()(cli.exports, createRequire(bundle), cli, bundle, dirname(bundle), (specifier) => import(specifier));
  loaded = cli.exports;
  return loaded;
}
