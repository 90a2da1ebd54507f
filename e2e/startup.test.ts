/**
 * What the built CLI loads: the common commands never load undici's index (only the files of it they use),
 * ora (only for progress on a terminal) or tar-stream (only to pack or unpack a directory). Each keeps
 * start-up short; `e2e/helpers/record-modules.js` records the modules a run imports.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, stowage } from './helpers/cli.js';
import { workspace, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();
const recorder = pathToFileURL(fileURLToPath(new URL('helpers/record-modules.js', import.meta.url))).href;

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

/** Runs `stowage <args>` (no terminal) and returns the modules it imported, as paths under node_modules or dist. */
async function modulesOf(args: string[]): Promise<string[]> {
  const log = ws.path(`modules-${++runs}.txt`);
  await writeFile(log, '');
  ok(await stowage(args, { cwd: src, env: { ...ws.env, NODE_OPTIONS: `--import=${recorder}`, STOWAGE_RECORD_MODULES: log } }), `stowage ${args.join(' ')}`);
  return (await readFile(log, 'utf8'))
    .split('\n')
    .filter((url) => url.startsWith('file:'))
    .map((url) => fileURLToPath(url).replace(/^.*?\/(node_modules|dist)\//, '$1/'));
}

function expectLean(modules: string[]): void {
  // The recorder works: the CLI's own entry and zod are there.
  expect(modules).toContain('dist/commands/index.js');
  expect(modules.some((path) => path.startsWith('node_modules/zod/'))).toBe(true);
  expect(modules.filter((path) => path.startsWith('node_modules/undici/'))).not.toContain('node_modules/undici/index.js');
  expect(modules.filter((path) => path.startsWith('node_modules/ora/') || path.startsWith('node_modules/tar-stream/'))).toEqual([]);
}

describe('start-up', () => {
  it('version and help load neither the undici index, nor ora, nor tar-stream', async () => {
    expectLean(await modulesOf(['version']));
    expectLean(await modulesOf(['pull', '--help']));
  });

  it('push and pull of files without a terminal: the same; a directory loads tar-stream', async () => {
    const reference = `${registry().host}/${uniqueRepository('e2e-startup')}:v1`;
    expectLean(await modulesOf(['push', reference, 'a.txt']));
    expectLean(await modulesOf(['pull', reference, '-o', await ws.mkdir('out')]));
    expectLean(await modulesOf(['resolve', reference]));
    const tree = await modulesOf(['push', reference, 'tree']);
    expect(tree).toContain('node_modules/tar-stream/index.js');
    expect(tree.some((path) => path.startsWith('node_modules/ora/'))).toBe(false);
  });
});
