/**
 * The built CLI's manifest, blob and index commands against a real docker-registry, next to ORAS 1.3:
 * `oras manifest fetch` of what stowage pushed equals `stowage manifest fetch`, byte for byte (raw,
 * --descriptor, --pretty, --format json), and the other way round; blobs and configs likewise; indexes
 * stowage creates are the bytes ORAS creates; real stdin pipes; the delete prompt on a terminal.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, runIn } from './helpers/cli.js';
import { workspace, type Workspace } from './helpers/fixtures.js';
import { spawn } from 'node:child_process';

const registry = useRegistry();
let ws: Workspace;

beforeAll(async () => {
  ws = await workspace('manifest');
});

afterAll(async () => {
  await ws.cleanup();
});

const sha256 = (bytes: Uint8Array | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

const { stowage, oras } = runIn(() => ws);

/** Pushes a config and a layer with `stowage blob push`, and a manifest with `stowage manifest push`. */
async function pushImage(name: string, tag: string, platform: object): Promise<Buffer> {
  const config = JSON.stringify(platform);
  const layer = `layer for ${config}`;
  await writeFile(ws.path('config.json'), config);
  ok(await stowage(['blob', 'push', name, ws.path('config.json')]), 'blob push config');
  ok(await stowage(['blob', 'push', '--size', String(Buffer.byteLength(layer)), name, '-'], layer), 'blob push layer from stdin');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: Buffer.byteLength(layer), annotations: { 'org.opencontainers.image.title': 'layer.txt' } }],
    }),
  );
  ok(await stowage(['manifest', 'push', `${name}:${tag}`, '-'], manifest.toString()), 'manifest push from stdin');
  return manifest;
}

describe('manifest fetch: stowage and oras agree byte for byte', () => {
  it('on what stowage pushed: raw, --descriptor, --pretty, --format json, configs and blobs', async () => {
    const name = `${registry().host}/${uniqueRepository('mf-s2o')}`;
    const manifest = await pushImage(name, 'v1', { architecture: 'amd64', os: 'linux' });
    for (const extra of [[], ['--descriptor'], ['--pretty'], ['--descriptor', '--pretty'], ['--format', 'json']]) {
      const [ours, theirs] = await Promise.all([stowage(['manifest', 'fetch', ...extra, `${name}:v1`]), oras(['manifest', 'fetch', '--plain-http', ...extra, `${name}:v1`])]);
      expect(ok(ours, `stowage manifest fetch ${extra.join(' ')}`).stdout).toBe(ok(theirs, `oras manifest fetch ${extra.join(' ')}`).stdout);
    }
    expect(ok(await stowage(['manifest', 'fetch', `${name}:v1`]), 'fetch').stdout).toBe(manifest.toString());
    for (const extra of [[], ['--descriptor'], ['--pretty']]) {
      const [ours, theirs] = await Promise.all([stowage(['manifest', 'fetch-config', ...extra, `${name}:v1`]), oras(['manifest', 'fetch-config', '--plain-http', ...extra, `${name}:v1`])]);
      expect(ok(ours, 'stowage manifest fetch-config').stdout).toBe(ok(theirs, 'oras manifest fetch-config').stdout);
    }
    const layerDigest = (JSON.parse(manifest.toString()) as { layers: { digest: string }[] }).layers[0]?.digest ?? '';
    for (const extra of [['-o', '-'], ['--descriptor']]) {
      const [ours, theirs] = await Promise.all([stowage(['blob', 'fetch', ...extra, `${name}@${layerDigest}`]), oras(['blob', 'fetch', '--plain-http', ...extra, `${name}@${layerDigest}`])]);
      expect(ok(ours, 'stowage blob fetch').stdout).toBe(ok(theirs, 'oras blob fetch').stdout);
    }
  });

  it('on what oras pushed', async () => {
    const name = `${registry().host}/${uniqueRepository('mf-o2s')}`;
    await writeFile(ws.path('hi.txt'), 'hi from oras\n');
    ok(await oras(['push', '--plain-http', `${name}:v1`, 'hi.txt']), 'oras push');
    for (const extra of [[], ['--descriptor'], ['--pretty'], ['--format', 'json']]) {
      const [ours, theirs] = await Promise.all([stowage(['manifest', 'fetch', ...extra, `${name}:v1`]), oras(['manifest', 'fetch', '--plain-http', ...extra, `${name}:v1`])]);
      expect(ok(ours, 'stowage manifest fetch').stdout).toBe(ok(theirs, 'oras manifest fetch').stdout);
    }
    // A manifest oras fetched, pushed back by stowage under another tag, keeps its digest.
    const raw = ok(await oras(['manifest', 'fetch', '--plain-http', `${name}:v1`]), 'oras fetch').stdout;
    const pushed = ok(await stowage(['manifest', 'push', `${name}:copy`, '-'], raw), 'stowage manifest push');
    expect(pushed.stdout).toContain(`Digest: ${sha256(raw)}\n`);
    expect(ok(await oras(['resolve', '--plain-http', `${name}:copy`]), 'oras resolve').stdout).toBe(`${sha256(raw)}\n`);
  });

  it('index create gives the bytes oras gives, and oras reads the platforms back', async () => {
    const name = `${registry().host}/${uniqueRepository('mf-index')}`;
    await pushImage(name, 'amd', { architecture: 'amd64', os: 'linux' });
    await pushImage(name, 'arm', { architecture: 'arm64', os: 'linux', variant: 'v8' });
    const [ours, theirs] = await Promise.all([
      stowage(['manifest', 'index', 'create', name, 'amd', 'arm', '-a', 'k=v', '--output', '-']),
      oras(['manifest', 'index', 'create', '--plain-http', name, 'amd', 'arm', '-a', 'k=v', '--output', '-']),
    ]);
    expect(ok(ours, 'stowage index create').stdout).toBe(ok(theirs, 'oras index create').stdout);
    const created = ok(await stowage(['manifest', 'index', 'create', `${name}:v1`, 'amd', 'arm']), 'stowage index create push');
    const digest = /^Digest: (sha256:[a-f0-9]{64})$/m.exec(created.stdout)?.[1];
    expect(ok(await oras(['resolve', '--plain-http', `${name}:v1`]), 'oras resolve').stdout).toBe(`${digest ?? ''}\n`);
    const armViaOras = ok(await oras(['manifest', 'fetch', '--plain-http', '--platform', 'linux/arm64', '--descriptor', `${name}:v1`]), 'oras --platform');
    const armViaUs = ok(await stowage(['manifest', 'fetch', '--platform', 'linux/arm64', '--descriptor', `${name}:v1`]), 'stowage --platform');
    expect(JSON.parse(armViaUs.stdout)).toMatchObject({ digest: (JSON.parse(armViaOras.stdout) as { digest: string }).digest });
  });
});

/** Runs the CLI on a pseudo-terminal (util-linux `script`), typing `answer`. */
function onTerminal(args: string[], answer: string): Promise<{ code: number; output: string }> {
  const command = [process.execPath, `${process.cwd()}/bin/run.js`, ...args].map((part) => `'${part.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...ws.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('[y/N]') && !child.stdin.writableEnded) child.stdin.end(`${answer}\n`);
    });
    child.on('error', reject);
    child.on('close', (code) => { resolve({ code: code ?? -1, output }); });
  });
}

describe.skipIf(!existsSync('/usr/bin/script'))('manifest delete on a terminal', () => {
  it('asks, and deletes only on yes', async () => {
    const name = `${registry().host}/${uniqueRepository('mf-delete')}`;
    const manifest = await pushImage(name, 'v1', { architecture: 'amd64', os: 'linux' });
    const no = await onTerminal(['manifest', 'delete', `${name}:v1`], 'n');
    expect(no.output).toContain(`Are you sure you want to delete the manifest "${sha256(manifest)}" and all tags associated with it? [y/N]`);
    expect(no.output).toContain('Operation cancelled.');
    expect(no.code).toBe(0);
    ok(await stowage(['manifest', 'fetch', `${name}:v1`]), 'still there');
    const yes = await onTerminal(['manifest', 'delete', `${name}:v1`], 'y');
    expect(yes.output).toContain(`Deleted [registry] ${name}:v1`);
    expect(yes.code).toBe(0);
    expect((await stowage(['manifest', 'fetch', `${name}:v1`])).code).toBe(1);
  });
});
