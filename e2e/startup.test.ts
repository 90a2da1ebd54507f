/**
 * What the built CLI loads at start-up. `bin/run.js` loads the bundle `dist/cli-script.js`
 * (scripts/bundle-cli.js) through `bin/cli-loader.js`, with V8's code cache, and oclif imports the command
 * classes from `dist/cli-commands.js`: no file of dist/commands, dist/src or node_modules is imported on its
 * own, which is what makes start-up short on Node 20 (no compile cache for ES modules). Inside the bundle, ora (progress
 * on a terminal) and tar-stream (directories) stay behind dynamic imports, so they only run when used, and
 * undici's index (fetch, WebSocket, caches, mocks) is not in it at all: the bundle's metafile says so.
 * `e2e/helpers/record-modules.js` records the modules a run imports.
 */
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, stowage } from './helpers/cli.js';
import { workspace, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();
const recorder = pathToFileURL(fileURLToPath(new URL('helpers/record-modules.js', import.meta.url))).href;
const metafile = fileURLToPath(new URL('../dist/cli.meta.json', import.meta.url));

let ws: Workspace;
let src: string;
let runs = 0;

beforeAll(async () => {
  ws = await workspace('startup');
  src = await ws.mkdir('src');
  await writeFile(`${src}/a.txt`, 'a\n');
  await ws.mkdir('src', 'tree', 'sub');
  await writeFile(`${src}/tree/sub/b.txt`, 'b\n');
});

afterAll(async () => {
  await ws.cleanup();
});

/** Runs `stowage <args>` (no terminal) and returns the files it imported, as paths from the package root. */
async function modulesOf(args: string[]): Promise<string[]> {
  const log = ws.path(`modules-${++runs}.txt`);
  await writeFile(log, '');
  ok(await stowage(args, { cwd: src, env: { ...ws.env, NODE_OPTIONS: `--import=${recorder}`, STOWAGE_RECORD_MODULES: log } }), `stowage ${args.join(' ')}`);
  return (await readFile(log, 'utf8'))
    .split('\n')
    .filter((url) => url.startsWith('file:'))
    .map((url) => fileURLToPath(url).replace(/^.*?\/(node_modules|dist|bin)\//, '$1/'));
}

const metafileSchema = z.object({
  inputs: z.record(z.string(), z.object({ imports: z.array(z.object({ path: z.string(), kind: z.string() })) })),
});

describe('start-up', () => {
  it('version, help, push, pull and resolve import bin/run.js, its loader and the command map, and nothing else', async () => {
    const reference = `${registry().host}/${uniqueRepository('e2e-startup')}:v1`;
    const runs = [['version'], ['pull', '--help'], ['push', reference, 'a.txt', 'tree'], ['pull', reference, '-o', await ws.mkdir('out')], ['resolve', reference]];
    for (const args of runs) expect(await modulesOf(args), args.join(' ')).toEqual(['bin/run.js', 'bin/cli-loader.js', 'dist/cli-commands.js']);
  });

  it('keeps a code cache in the cache directory: written once, used as it is, rewritten when V8 refuses it', async () => {
    const cacheHome = await ws.mkdir('xdg-cache');
    const dir = `${cacheHome}/stowage`;
    const env = { ...ws.env, XDG_CACHE_HOME: cacheHome };
    const caches = async (): Promise<string[]> => (await readdir(dir)).filter((name) => name.endsWith('.v8cache'));
    ok(await stowage(['version'], { env: { ...env, STOWAGE_CODE_CACHE: '0' } }), 'version without a cache');
    await expect(readdir(dir)).rejects.toThrow();
    ok(await stowage(['version'], { env }), 'version, first');
    const [name] = await caches();
    // Named by the bundle's sha256, which the build writes beside it.
    const id = (await readFile(new URL('../dist/cli-script.sha256', import.meta.url), 'utf8')).trim().slice(0, 16);
    expect(name).toBe(`cli-${process.version}-${process.arch}-${id}.v8cache`);
    const file = `${dir}/${name ?? ''}`;
    const written = await stat(file);
    expect(written.size).toBeGreaterThan(100_000);
    // Accepted by V8: not written again.
    ok(await stowage(['pull', '--help'], { env }), 'pull --help, with the cache');
    expect((await stat(file)).mtimeMs).toBe(written.mtimeMs);
    // A damaged cache, and two of other builds: refused and rewritten; the other build's stale cache
    // (over 30 days old) dropped, its recent one kept.
    await writeFile(file, Buffer.alloc(4096, 7));
    const stale = `${dir}/cli-v0.0.0-x64-1-1.v8cache`;
    await writeFile(stale, 'old');
    const monthsAgo = new Date(Date.now() - 40 * 24 * 60 * 60 * 1000);
    await utimes(stale, monthsAgo, monthsAgo);
    await writeFile(`${dir}/cli-v0.0.0-x64-2-2.v8cache`, 'recent');
    const result = ok(await stowage(['version'], { env }), 'version, damaged cache');
    expect(result.stdout).toContain('Version:');
    expect((await caches()).sort()).toEqual([name, 'cli-v0.0.0-x64-2-2.v8cache'].sort());
    expect((await stat(file)).size).toBeGreaterThan(100_000);
    // $STOWAGE_CACHE_DIR comes first, as for oclif's own cache directory.
    const own = await ws.mkdir('stowage-cache');
    ok(await stowage(['version'], { env: { ...env, STOWAGE_CACHE_DIR: own } }), 'version, STOWAGE_CACHE_DIR');
    expect((await readdir(own)).filter((entry) => entry.endsWith('.v8cache'))).toEqual([name]);
  });

  it('in the bundle, ora and tar-stream are imported only dynamically, and undici only file by file', async () => {
    const { inputs } = metafileSchema.parse(JSON.parse(await readFile(metafile, 'utf8')));
    const files = Object.keys(inputs);
    // The metafile is the bundle's: the CLI's entry, zod and undici's client are in it.
    expect(files).toContain('dist/commands/index.js');
    expect(files).toContain('node_modules/undici/lib/dispatcher/client.js');
    expect(files.some((file) => file.startsWith('node_modules/zod/'))).toBe(true);
    expect(files).not.toContain('node_modules/undici/index.js');
    const lazy = /^node_modules\/(ora|tar-stream)\//;
    const ways = files
      .filter((file) => !lazy.test(file))
      .flatMap((file) => (inputs[file]?.imports ?? []).filter((entry) => lazy.test(entry.path)).map((entry) => `${file} -> ${entry.path}: ${entry.kind}`));
    expect(ways.sort()).toEqual([
      'dist/commands/ui/progress.js -> node_modules/ora/index.js: dynamic-import',
      'dist/src/pack/extract-directory.js -> node_modules/tar-stream/index.js: dynamic-import',
      'dist/src/pack/tar-directory.js -> node_modules/tar-stream/index.js: dynamic-import',
    ]);
  });
});
