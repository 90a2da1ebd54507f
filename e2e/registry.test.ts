/**
 * The built CLI against a real docker-registry (started by the harness on a free 127.0.0.1 port): push,
 * pull, tag, resolve, repo tags, with JSON outputs; `-k` refusing to overwrite; Basic credentials against an
 * htpasswd registry.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, stowage } from './helpers/cli.js';
import { expectOneError, listDir, makeFixture, parseJsonOutput, sha256, snapshotTree, temporaryFiles, unicodeName, workspace, type Fixture, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();
const secured = useRegistry({ auth: 'htpasswd', users: { alice: 'correct horse battery staple' } });

let ws: Workspace;
let fixture: Fixture;

beforeAll(async () => {
  ws = await workspace('registry');
  fixture = await makeFixture(await ws.mkdir('src'), 2);
});

afterAll(async () => {
  await ws.cleanup();
});

function run(args: string[], cwd = ws.dir): ReturnType<typeof stowage> {
  return stowage(args, { cwd, env: ws.env });
}

/** The manifest bytes and headers the registry serves for `reference` (a tag or digest). */
async function fetchManifest(host: string, repository: string, reference: string): Promise<{ bytes: Buffer; digest: string | null; contentType: string | null }> {
  const response = await fetch(`http://${host}/v2/${repository}/manifests/${reference}`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  expect(response.status).toBe(200);
  return {
    bytes: Buffer.from(await response.arrayBuffer()),
    digest: response.headers.get('docker-content-digest'),
    contentType: response.headers.get('content-type'),
  };
}

describe('push and pull against a registry', () => {
  it('round-trips files, a directory, an empty file and a unicode name, with JSON output of both', async () => {
    const name = `${registry().host}/${uniqueRepository('e2e-roundtrip')}`;
    const pushed = parseJsonOutput(ok(await run(['push', `${name}:v1,v2`, ...fixture.files, fixture.directory, '--format', 'json'], fixture.dir), 'push')) as Record<string, unknown>;
    const digest = pushed.digest as string;
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(pushed).toEqual({
      reference: `${name}@${digest}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: expect.any(Number) as number,
      annotations: { 'org.opencontainers.image.created': expect.any(String) as string },
      artifactType: 'application/vnd.unknown.artifact.v1',
      referenceAsTags: [`${name}:v1`, `${name}:v2`],
    });
    const served = await fetchManifest(registry().host, name.slice(registry().host.length + 1), 'v2');
    expect(served.digest).toBe(digest);
    expect(sha256(served.bytes)).toBe(digest);
    expect(served.bytes.byteLength).toBe(pushed.size);
    // The directory archive lived in TMPDIR only while pushing.
    expect(await listDir(ws.tmp)).toEqual([]);

    const out = ws.path('out-roundtrip');
    const pulled = parseJsonOutput(ok(await run(['pull', `${name}:v1`, '-o', out, '--format', 'json']), 'pull')) as {
      reference: string;
      files: { path: string; reference: string; digest: string; size: number; mediaType: string; annotations: Record<string, string> }[];
    };
    expect(pulled.reference).toBe(`${name}@${digest}`);
    expect(pulled.files.map((file) => file.path).sort()).toEqual([`${out}/empty.txt`, `${out}/hello.txt`, `${out}/${unicodeName}`, `${out}/tree/`].sort());
    for (const file of pulled.files) {
      expect(file.reference).toBe(`${name}@${file.digest}`);
      expect(file.annotations['org.opencontainers.image.title']).toBe(file.path.slice(out.length + 1).replace(/\/$/, ''));
      if (!file.path.endsWith('/')) expect(sha256(await readFile(file.path))).toBe(file.digest);
    }
    expect(await snapshotTree(out)).toEqual(await snapshotTree(fixture.dir));
    expect(await temporaryFiles(out)).toEqual([]);

    // Text output names the registry and the tags.
    const text = ok(await run(['pull', `${name}:v2`, '-o', ws.path('out-roundtrip-text')]), 'pull text');
    expect(text.stdout).toBe(`Pulled [registry] ${name}:v2\nDigest: ${digest}\n`);
  });

  it('tags, resolves, lists tags and pulls by digest', async () => {
    const repository = uniqueRepository('e2e-tags');
    const name = `${registry().host}/${repository}`;
    const pushed = ok(await run(['push', `${name}:v1`, 'hello.txt', '--artifact-type', 'application/vnd.example.note'], fixture.dir), 'push');
    expect(pushed.stdout.split('\n')[0]).toBe(`Pushed [registry] ${name}:v1`);
    expect(pushed.stdout).toContain('ArtifactType: application/vnd.example.note\n');
    const digest = /^Digest: (sha256:[a-f0-9]{64})$/m.exec(pushed.stdout)?.[1] ?? '';
    expect(digest).not.toBe('');

    const tagged = parseJsonOutput(ok(await run(['tag', `${name}:v1`, 'v2', 'v3,latest', '--format', 'json']), 'tag'));
    expect(tagged).toEqual({
      reference: `${name}@${digest}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: expect.any(Number) as number,
      tags: ['v2', 'v3', 'latest'],
    });
    for (const tag of ['v2', 'v3', 'latest']) expect((await fetchManifest(registry().host, repository, tag)).digest).toBe(digest);

    // Read-only commands, at once.
    const out = ws.path('out-by-digest');
    const [resolved, full, tags, tagsJsonResult, pulled] = await Promise.all([
      run(['resolve', `${name}:latest`]),
      run(['resolve', '--full-reference', `${name}:v3`]),
      run(['repo', 'tags', name]),
      run(['repo', 'tags', name, '--format', 'json']),
      run(['pull', `${name}@${digest}`, '-o', out]),
    ]);
    expect(ok(resolved, 'resolve').stdout).toBe(`${digest}\n`);
    expect(ok(full, 'resolve -l').stdout).toBe(`${name}@${digest}\n`);
    expect(ok(tags, 'repo tags').stdout.trimEnd().split('\n').sort()).toEqual(['latest', 'v1', 'v2', 'v3']);
    const tagsJson = parseJsonOutput(ok(tagsJsonResult, 'repo tags json')) as { tags: string[] };
    expect([...tagsJson.tags].sort()).toEqual(['latest', 'v1', 'v2', 'v3']);
    ok(pulled, 'pull by digest');
    expect(await readFile(`${out}/hello.txt`, 'utf8')).toBe(await readFile(`${fixture.dir}/hello.txt`, 'utf8'));
  });

  it('puts annotations in the manifest and --export-manifest writes the bytes the registry serves', async () => {
    const repository = uniqueRepository('e2e-annotations');
    const name = `${registry().host}/${repository}`;
    const exported = ws.path('registry-manifest.json');
    const pushed = parseJsonOutput(
      ok(
        await run(
          ['push', `${name}:v1`, unicodeName, '-a', 'org.example.team=infra', '--artifact-type', 'application/vnd.example.report', '--export-manifest', exported, '--format', 'json'],
          fixture.dir,
        ),
        'push',
      ),
    ) as { digest: string };
    const served = await fetchManifest(registry().host, repository, 'v1');
    const bytes = await readFile(exported);
    expect(served.bytes.equals(bytes)).toBe(true);
    expect(sha256(bytes)).toBe(pushed.digest);
    const manifest = JSON.parse(bytes.toString('utf8')) as { artifactType: string; annotations: Record<string, string>; layers: { annotations: Record<string, string> }[] };
    expect(manifest.artifactType).toBe('application/vnd.example.report');
    expect(manifest.annotations['org.example.team']).toBe('infra');
    expect(manifest.layers[0]!.annotations['org.opencontainers.image.title']).toBe(unicodeName);
  });

  it('gives the same digest for two pushes with SOURCE_DATE_EPOCH', async () => {
    const name = `${registry().host}/${uniqueRepository('e2e-epoch')}`;
    const env = { ...ws.env, SOURCE_DATE_EPOCH: '1700000000' };
    const args = (tag: string): string[] => ['push', `${name}:${tag}`, ...fixture.files, fixture.directory, '--format', 'json'];
    const [a, b] = await Promise.all([stowage(args('a'), { cwd: fixture.dir, env }), stowage(args('b'), { cwd: fixture.dir, env })]);
    const first = parseJsonOutput(ok(a, 'push a')) as { digest: string };
    const second = parseJsonOutput(ok(b, 'push b')) as { digest: string };
    expect(second.digest).toBe(first.digest);
  });
});

describe('pull --keep-old-files', () => {
  it('refuses to overwrite an existing file (exit 1, file unchanged); without -k the file is replaced', async () => {
    const name = `${registry().host}/${uniqueRepository('e2e-keep')}`;
    ok(await run(['push', `${name}:v1`, 'hello.txt', 'empty.txt'], fixture.dir), 'push');
    const out = await ws.mkdir('out-keep');
    const local = `${out}/hello.txt`;
    await writeFile(local, 'my local edit\n');

    const refused = await run(['pull', `${name}:v1`, '-o', out, '-k']);
    expectOneError(refused, 1, [local, 'already exists']);
    expect(await readFile(local, 'utf8')).toBe('my local edit\n');
    expect(await temporaryFiles(out)).toEqual([]);

    ok(await run(['pull', `${name}:v1`, '-o', out]), 'pull without -k');
    expect(await readFile(local, 'utf8')).toBe(await readFile(`${fixture.dir}/hello.txt`, 'utf8'));
  });
});

describe('Basic credentials against an htpasswd registry', () => {
  it('pushes and pulls with -u/-p and --password-stdin; a wrong password or none fails in one line', async () => {
    const password = secured().users.alice!;
    const name = `${secured().host}/${uniqueRepository('e2e-auth')}`;
    const pushed = ok(await run(['push', `${name}:v1`, 'hello.txt', '-u', 'alice', '-p', password], fixture.dir), 'push with -u/-p');
    expect(pushed.stdout).toContain(`Pushed [registry] ${name}:v1`);
    const out = ws.path('out-auth');
    const [pulled, resolved, wrong, wrongPush, anonymous] = await Promise.all([
      stowage(['pull', `${name}:v1`, '-o', out, '-u', 'alice', '--password-stdin'], { cwd: ws.dir, env: ws.env, input: `${password}\n` }),
      run(['resolve', `${name}:v1`, '-u', 'alice', '-p', password]),
      run(['pull', `${name}:v1`, '-o', ws.path('out-auth-wrong'), '-u', 'alice', '-p', 'wrong password']),
      run(['push', `${name}:v2`, 'hello.txt', '-u', 'alice', '-p', 'wrong password'], fixture.dir),
      run(['resolve', `${name}:v1`]),
    ]);
    ok(pulled, 'pull with --password-stdin');
    expect(await readFile(`${out}/hello.txt`, 'utf8')).toBe(await readFile(`${fixture.dir}/hello.txt`, 'utf8'));
    expect(ok(resolved, 'resolve').stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expectOneError(wrong, 1, [`${name}:v1`, /unauthorized|401/i]);
    expect(await listDir(ws.path('out-auth-wrong'))).toEqual([]);
    expectOneError(wrongPush, 1, [name, /unauthorized|401/i]);
    expectOneError(anonymous, 1, [`${name}:v1`, /unauthorized|401/i]);
    // -u/-p are used for the command only: nothing is stored in the (private) docker config.
    expect(await listDir(ws.path('home', '.docker'))).toEqual([]);
  });
});
