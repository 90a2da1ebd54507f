/**
 * `stowage cp` of a 256 MiB blob from one docker-registry to another streams it: the CLI, run under
 * `/usr/bin/time`, stays far below the blob's size in peak memory (max RSS), writes nothing to disk, and the
 * destination holds the whole blob under its digest.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../src/oci/schemas.js';
import { RemoteRepository } from '../src/registry/repository.js';
import { fetchAll } from '../test/helpers/store-contract.js';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, stowage } from './helpers/cli.js';
import { listDir, parseJsonOutput, workspace, type Workspace } from './helpers/fixtures.js';

const execFileAsync = promisify(execFile);
const first = useRegistry();
const second = useRegistry();
const blobBytes = 256 * 1024 * 1024;
/** The peak memory the copy may reach: well under the blob's size (Node itself takes 60-90 MiB). */
const maxRssBytes = 200 * 1024 * 1024;
const stowageBin = fileURLToPath(new URL('../bin/run.js', import.meta.url));

/** How much more than the copy of a small artifact it may take: a fraction of the blob. */
const maxGrowthBytes = 64 * 1024 * 1024;

let ws: Workspace;
let blobDigest: string;

/** The environment of a user's shell, as the e2e helper gives the CLI (no test runner markers). */
function userEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'TEST' || key.startsWith('VITEST') || key === 'NODE_ENV') continue;
    env[key] = value;
  }
  return { ...env, ...ws.env, NO_COLOR: '1' };
}

/** Runs `stowage <args>` under GNU time; returns stdout and the peak resident set size (`%M`, KiB) in bytes. */
async function peakRssRun(args: string[], cwd: string): Promise<{ stdout: string; rssBytes: number }> {
  const rssFile = ws.path('rss.txt');
  const { stdout } = await execFileAsync('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, stowageBin, ...args], { cwd, env: userEnvironment() });
  const rssBytes = Number((await readFile(rssFile, 'utf8')).trim().split('\n').at(-1)) * 1024;
  return { stdout, rssBytes };
}

async function peakRss(args: string[], cwd: string): Promise<number> {
  return (await peakRssRun(args, cwd)).rssBytes;
}

beforeAll(async () => {
  ws = await workspace('copy-memory');
  await writeFile(ws.path('small.txt'), 'small\n');
  const hash = createHash('sha256');
  const handle = await open(ws.path('big.bin'), 'w');
  try {
    for (let written = 0; written < blobBytes; written += 1024 * 1024) {
      const chunk = randomBytes(1024 * 1024);
      hash.update(chunk);
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  blobDigest = `sha256:${hash.digest('hex')}`;
}, 60_000);

afterAll(async () => {
  await ws.cleanup();
});

describe('copy to another registry streams', () => {
  it('copies a 256 MiB blob with a peak RSS under 200 MiB and nothing written to disk', async () => {
    const source = `${first().host}/${uniqueRepository('cp-big')}`;
    const repository = uniqueRepository('cp-big-dst');
    const destination = `${second().host}/${repository}`;
    const pushed = parseJsonOutput(ok(await stowage(['push', `${source}:v1`, 'big.bin', '--format', 'json'], { cwd: ws.dir, env: ws.env }), 'push')) as { digest: string };
    const work = await ws.mkdir('cwd');
    // The same copy of a small artifact first: what the CLI takes whatever it copies.
    ok(await stowage(['push', `${source}:small`, 'small.txt'], { cwd: ws.dir, env: ws.env }), 'push small');
    const baseline = await peakRss(['cp', `${source}:small`, `${destination}:small`], work);
    const { stdout, rssBytes } = await peakRssRun(['cp', `${source}:v1`, `${destination}:v1`], work);
    expect(stdout).toContain(`Digest: ${pushed.digest}`);
    const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
    process.stderr.write(`copy of a 256 MiB blob: peak RSS ${mib(rssBytes)} (a small artifact: ${mib(baseline)})\n`);
    expect(baseline).toBeGreaterThan(0);
    expect(rssBytes, `peak RSS ${mib(rssBytes)}`).toBeLessThan(maxRssBytes);
    expect(rssBytes - baseline, `peak RSS ${mib(rssBytes)}, small copy ${mib(baseline)}`).toBeLessThan(maxGrowthBytes);
    // Streamed: no file in the working directory or the temp directory.
    expect(await listDir(work)).toEqual([]);
    expect(await listDir(ws.tmp)).toEqual([]);

    const copied = new RemoteRepository({ registry: second().host, repository });
    const root = await copied.resolve('v1');
    expect(root.digest).toBe(pushed.digest);
    const manifest = parseManifest(await fetchAll(copied, root), root.mediaType, root.digest);
    const layer = manifest.kind === 'manifest' ? manifest.manifest.layers[0] : undefined;
    expect(layer).toMatchObject({ digest: blobDigest, size: blobBytes });
    expect(await copied.exists(layer!)).toBe(true);
    // The registry's own copy of the blob, hashed: every byte arrived.
    const stored = createHash('sha256');
    for await (const chunk of createReadStream(`${second().storage}/docker/registry/v2/blobs/sha256/${blobDigest.slice(7, 9)}/${blobDigest.slice(7)}/data`)) {
      stored.update(chunk as Buffer);
    }
    expect(`sha256:${stored.digest('hex')}`).toBe(blobDigest);
  });
});
