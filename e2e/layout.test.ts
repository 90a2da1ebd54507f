/**
 * The built CLI against an OCI image layout in a temp dir: push, pull, tag, resolve, repo tags, version;
 * JSON outputs; reproducible pushes; --export-manifest; annotations, artifact type and config as they land
 * in the manifest (read straight from index.json and blobs/, and through `oras manifest fetch`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, oras, stowage } from './helpers/cli.js';
import {
  expectOneError,
  listDir,
  makeFixture,
  parseJsonOutput,
  readLayoutBlob,
  readLayoutManifest,
  sha256,
  snapshotTree,
  temporaryFiles,
  unicodeName,
  workspace,
  type Fixture,
  type Workspace,
} from './helpers/fixtures.js';

const manifestMediaType = 'application/vnd.oci.image.manifest.v1+json';
const digestPattern = /^sha256:[a-f0-9]{64}$/;

let ws: Workspace;
let fixture: Fixture;
let layoutCounter = 0;

beforeAll(async () => {
  ws = await workspace('layout');
  fixture = await makeFixture(await ws.mkdir('src'));
});

afterAll(async () => {
  await ws.cleanup();
});

/** A fresh layout path (not created: push creates it). */
function newLayout(): string {
  layoutCounter++;
  return ws.path(`layout-${layoutCounter}`);
}

function inFixture(args: string[], env: Record<string, string> = {}): ReturnType<typeof stowage> {
  return stowage(args, { cwd: fixture.dir, env: { ...ws.env, ...env } });
}

describe('push and pull with --oci-layout', () => {
  it('round-trips files, a directory with nested files, a symlink and an empty subdir, an empty file and a unicode name', async () => {
    const layout = newLayout();
    const pushed = ok(await inFixture(['push', '--oci-layout', `${layout}:v1,v2`, ...fixture.files, fixture.directory, '--format', 'json']), 'push');
    const push = parseJsonOutput(pushed) as Record<string, unknown>;
    expect(Object.keys(push).sort()).toEqual(['annotations', 'artifactType', 'digest', 'mediaType', 'reference', 'referenceAsTags', 'size']);
    expect(push.digest).toMatch(digestPattern);
    const digest = push.digest as string;
    expect(push).toEqual({
      reference: `${layout}@${digest}`,
      mediaType: manifestMediaType,
      digest,
      size: expect.any(Number) as number,
      annotations: { 'org.opencontainers.image.created': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) as string },
      artifactType: 'application/vnd.unknown.artifact.v1',
      referenceAsTags: [`${layout}:v1`, `${layout}:v2`],
    });
    // Both tags point at the manifest whose bytes hash to the digest printed, and has the size printed.
    const v1 = await readLayoutManifest(layout, 'v1');
    const v2 = await readLayoutManifest(layout, 'v2');
    expect(v1.digest).toBe(digest);
    expect(v2.digest).toBe(digest);
    expect(sha256(v1.bytes)).toBe(digest);
    expect(v1.bytes.byteLength).toBe(push.size);
    const layers = v1.json.layers as { annotations: Record<string, string>; mediaType: string }[];
    expect(layers.map((layer) => layer.annotations['org.opencontainers.image.title'])).toEqual([...fixture.files, fixture.directory]);
    expect(layers.map((layer) => layer.mediaType)).toEqual([
      ...fixture.files.map(() => 'application/vnd.oci.image.layer.v1.tar'),
      'application/vnd.oci.image.layer.v1.tar+gzip',
    ]);
    // The directory archive lived in TMPDIR only while pushing.
    expect(await listDir(ws.tmp)).toEqual([]);

    const out = ws.path('out-roundtrip');
    const pulled = ok(await stowage(['pull', '--oci-layout', `${layout}:v2`, '-o', out, '--format', 'json'], { cwd: ws.dir, env: ws.env }), 'pull');
    const pull = parseJsonOutput(pulled) as { reference: string; files: Record<string, unknown>[] };
    expect(Object.keys(pull).sort()).toEqual(['files', 'reference']);
    expect(pull.reference).toBe(`${layout}@${digest}`);
    const byPath = new Map(pull.files.map((file) => [file.path, file]));
    expect([...byPath.keys()].sort()).toEqual([`${out}/empty.txt`, `${out}/hello.txt`, `${out}/${unicodeName}`, `${out}/tree/`].sort());
    for (const file of pull.files) {
      expect(Object.keys(file).sort()).toEqual(['annotations', 'digest', 'mediaType', 'path', 'reference', 'size']);
      expect(file.reference).toBe(`${layout}@${String(file.digest)}`);
      expect(file.digest).toMatch(digestPattern);
      expect(typeof file.size).toBe('number');
    }
    for (const name of fixture.files) {
      const entry = byPath.get(`${out}/${name}`)!;
      const bytes = await readFile(`${out}/${name}`);
      expect(entry.digest).toBe(sha256(bytes));
      expect(entry.size).toBe(bytes.byteLength);
      expect(entry.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
      expect(entry.annotations).toEqual({ 'org.opencontainers.image.title': name });
    }
    const tree = byPath.get(`${out}/tree/`)!;
    expect(tree.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    expect(tree.annotations).toMatchObject({ 'io.deis.oras.content.unpack': 'true', 'org.opencontainers.image.title': 'tree' });

    // Byte for byte: every file, the symlink target, the empty directory; nothing more, nothing less.
    const expected = await snapshotTree(fixture.dir);
    expect(expected['tree/void']).toBe('dir');
    expect(expected['tree/link']).toBe('symlink -> sub/deep/nested.bin');
    expect(await snapshotTree(out)).toEqual(expected);
    expect(await temporaryFiles(out)).toEqual([]);
    expect(await listDir(ws.tmp)).toEqual([]);
  });

  it('prints text results, and tags, resolves and lists tags', async () => {
    const layout = newLayout();
    const pushed = ok(await inFixture(['push', '--oci-layout', `${layout}:v1`, 'hello.txt']), 'push');
    const lines = pushed.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`Pushed [oci-layout] ${layout}:v1`);
    expect(lines).toContain('ArtifactType: application/vnd.unknown.artifact.v1');
    const digest = /^Digest: (sha256:[a-f0-9]{64})$/m.exec(pushed.stdout)?.[1];
    expect(digest).toBeDefined();
    expect((await readLayoutManifest(layout, 'v1')).digest).toBe(digest);

    const tagged = ok(await stowage(['tag', '--oci-layout', `${layout}:v1`, 'v2', 'v3,v4'], { env: ws.env }), 'tag');
    expect(tagged.stdout).toBe(`Tagging [oci-layout] ${layout}@${digest!}\nTagged v2\nTagged v3\nTagged v4\n`);
    // By digest too.
    ok(await stowage(['tag', '--oci-layout', `${layout}@${digest!}`, 'by-digest'], { env: ws.env }), 'tag by digest');
    for (const tag of ['v2', 'v3', 'v4', 'by-digest']) expect((await readLayoutManifest(layout, tag)).digest).toBe(digest);

    // Read-only commands, at once.
    const [resolved, full, listed, listedJsonResult] = await Promise.all([
      stowage(['resolve', '--oci-layout', `${layout}:v4`], { env: ws.env }),
      stowage(['resolve', '-l', '--oci-layout', `${layout}:v3`], { env: ws.env }),
      stowage(['repo', 'tags', '--oci-layout', layout], { env: ws.env }),
      stowage(['repo', 'tags', '--oci-layout', layout, '--format', 'json'], { env: ws.env }),
    ]);
    expect(ok(resolved, 'resolve').stdout).toBe(`${digest!}\n`);
    expect(ok(full, 'resolve -l').stdout).toBe(`${layout}@${digest!}\n`);
    expect(ok(listed, 'repo tags').stdout.trimEnd().split('\n').sort()).toEqual(['by-digest', 'v1', 'v2', 'v3', 'v4']);
    const listedJson = parseJsonOutput(ok(listedJsonResult, 'repo tags json'));
    expect(listedJson).toEqual({ tags: expect.arrayContaining(['by-digest', 'v1', 'v2', 'v3', 'v4']) as string[] });
    expect((listedJson as { tags: string[] }).tags).toHaveLength(5);

    // A tag that points elsewhere moves: push other content under v2.
    const moved = parseJsonOutput(ok(await inFixture(['push', '--oci-layout', `${layout}:v2`, 'empty.txt', '--format', 'json']), 'push v2')) as { digest: string };
    expect(moved.digest).not.toBe(digest);
    const [v2, v1] = await Promise.all([stowage(['resolve', '--oci-layout', `${layout}:v2`], { env: ws.env }), stowage(['resolve', '--oci-layout', `${layout}:v1`], { env: ws.env })]);
    expect(ok(v2, 'resolve v2').stdout).toBe(`${moved.digest}\n`);
    expect(ok(v1, 'resolve v1').stdout).toBe(`${digest!}\n`);
  });

  it('pulls by digest with --oci-layout <path>@<digest>', async () => {
    const layout = newLayout();
    const push = parseJsonOutput(ok(await inFixture(['push', '--oci-layout', `${layout}:v1`, unicodeName, '--format', 'json']), 'push')) as { digest: string };
    const out = ws.path('out-by-digest');
    const pulled = ok(await stowage(['pull', '--oci-layout', `${layout}@${push.digest}`, '-o', out], { env: ws.env }), 'pull');
    expect(pulled.stdout).toContain(`Digest: ${push.digest}`);
    expect(await readFile(`${out}/${unicodeName}`)).toEqual(await readFile(`${fixture.dir}/${unicodeName}`));
  });
});

describe('--oci-layout-path, as ORAS takes it: the layout directory in the flag, only tags or a digest as the reference', () => {
  it('pushes under two tags, resolves, pulls by tag and by digest, and refuses both layout flags at once', async () => {
    const layout = newLayout();
    const push = parseJsonOutput(ok(await inFixture(['push', '--oci-layout-path', layout, 'v1,v2', unicodeName, '--format', 'json']), 'push')) as { digest: string };
    expect(ok(await stowage(['resolve', '--oci-layout-path', layout, 'v2'], { env: ws.env }), 'resolve').stdout.trim()).toBe(push.digest);
    for (const reference of ['v1', push.digest]) {
      const out = ws.path(`out-layout-path-${reference.slice(0, 8).replace(':', '-')}`);
      ok(await stowage(['pull', '--oci-layout-path', layout, reference, '-o', out], { env: ws.env }), `pull ${reference}`);
      expect(await readFile(`${out}/${unicodeName}`)).toEqual(await readFile(`${fixture.dir}/${unicodeName}`));
    }
    expectOneError(await stowage(['resolve', '--oci-layout', '--oci-layout-path', layout, 'v1'], { env: ws.env }), 2, ['--oci-layout-path']);
  });
});

describe('pull --keep-old-files from a layout', () => {
  it('refuses to overwrite existing files: exit 1, one error line, files unchanged', async () => {
    const layout = newLayout();
    ok(await inFixture(['push', '--oci-layout', `${layout}:v1`, ...fixture.files, fixture.directory]), 'push');
    const out = ws.path('out-keep');
    ok(await stowage(['pull', '--oci-layout', `${layout}:v1`, '-o', out], { env: ws.env }), 'first pull');
    await writeFile(`${out}/hello.txt`, 'local edit\n');
    const before = await snapshotTree(out);

    const refused = await stowage(['pull', '--oci-layout', `${layout}:v1`, '-o', out, '-k'], { env: ws.env });
    expectOneError(refused, 1, [out, 'already exists']);
    expect(await snapshotTree(out)).toEqual(before);
    expect(await temporaryFiles(out)).toEqual([]);
  });
});

describe('version', () => {
  it('prints the package version as text and as JSON', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const [textResult, jsonResult] = await Promise.all([stowage(['version'], { env: ws.env }), stowage(['version', '--format', 'json'], { env: ws.env })]);
    const text = ok(textResult, 'version');
    expect(text.stdout).toMatch(new RegExp(`^Version: +${pkg.version.replaceAll('.', '\\.')}$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^Node version: +${process.version.replaceAll('.', '\\.')}$`, 'm'));
    expect(text.stderr).toBe('');
    const json = parseJsonOutput(ok(jsonResult, 'version json'));
    expect(json).toEqual({ version: pkg.version, nodeVersion: process.version, platform: `${process.platform}/${process.arch}` });
  });
});

describe('reproducible pushes', () => {
  it('gives the same digest for the same files with SOURCE_DATE_EPOCH, and a created annotation without it', async () => {
    const epoch = { SOURCE_DATE_EPOCH: '1700000000' };
    const args = (layout: string): string[] => ['push', '--oci-layout', `${layout}:v1`, ...fixture.files, fixture.directory, '--format', 'json'];
    const layout = newLayout();
    const [firstResult, secondResult, unpinnedResult] = await Promise.all([inFixture(args(newLayout()), epoch), inFixture(args(newLayout()), epoch), inFixture(args(layout))]);
    type Pushed = { digest: string; annotations: Record<string, string> };
    const first = parseJsonOutput(ok(firstResult, 'push 1')) as Pushed;
    const second = parseJsonOutput(ok(secondResult, 'push 2')) as Pushed;
    expect(second.digest).toBe(first.digest);
    expect(first.annotations).toEqual({ 'org.opencontainers.image.created': '2023-11-14T22:13:20Z' });
    const unpinned = parseJsonOutput(ok(unpinnedResult, 'push unpinned')) as Pushed;
    const created = unpinned.annotations['org.opencontainers.image.created'];
    expect(created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Now-ish, not the epoch: within a day of the test's clock.
    expect(Math.abs(Date.parse(created!) - Date.now())).toBeLessThan(86_400_000);
    expect(unpinned.digest).not.toBe(first.digest);
    const manifest = await readLayoutManifest(layout, 'v1');
    expect((manifest.json.annotations as Record<string, string>)['org.opencontainers.image.created']).toBe(created);
  });

  it('--export-manifest writes exactly the bytes the digest is over', async () => {
    const layout = newLayout();
    const exported = ws.path('exported-manifest.json');
    const push = parseJsonOutput(
      ok(await inFixture(['push', '--oci-layout', `${layout}:v1`, 'hello.txt', fixture.directory, '--export-manifest', exported, '--format', 'json']), 'push'),
    ) as { digest: string; size: number };
    const bytes = await readFile(exported);
    expect(sha256(bytes)).toBe(push.digest);
    expect(bytes.byteLength).toBe(push.size);
    expect(bytes.equals(await readLayoutBlob(layout, push.digest))).toBe(true);
  });
});

describe('annotations, artifact type and config in the manifest', () => {
  it('puts --annotation, --annotation-file, --artifact-type and --config (image spec 1.1) where ORAS would', async () => {
    const layout = newLayout();
    const configBytes = '{"kind":"example","n":1}\n';
    await writeFile(ws.path('config.json'), configBytes);
    const annotationFile = ws.path('annotations.json');
    await writeFile(
      annotationFile,
      JSON.stringify({
        $manifest: { 'org.example.from-file': 'yes' },
        $config: { 'org.example.config-note': 'cfg' },
        'hello.txt': { 'org.example.file-note': 'per file' },
      }),
    );
    ok(
      await inFixture([
        'push',
        '--oci-layout',
        `${layout}:v1`,
        'hello.txt',
        'empty.txt:application/vnd.example.empty',
        '-a',
        'org.example.team=infra',
        '--annotation',
        'org.example.equation=a=b c',
        '--annotation-file',
        annotationFile,
        '--artifact-type',
        'application/vnd.example.report',
        '--config',
        `${ws.path('config.json')}:application/vnd.example.config+json`,
      ]),
      'push',
    );
    const manifest = await readLayoutManifest(layout, 'v1');
    const json = manifest.json as {
      mediaType: string;
      artifactType?: string;
      config: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
      layers: { mediaType: string; annotations: Record<string, string> }[];
      annotations: Record<string, string>;
    };
    expect(json.mediaType).toBe(manifestMediaType);
    expect(json.artifactType).toBe('application/vnd.example.report');
    expect(json.config).toEqual({
      mediaType: 'application/vnd.example.config+json',
      digest: sha256(configBytes),
      size: Buffer.byteLength(configBytes),
      annotations: { 'org.example.config-note': 'cfg' },
    });
    expect((await readLayoutBlob(layout, json.config.digest)).toString('utf8')).toBe(configBytes);
    expect(json.layers.map((layer) => layer.mediaType)).toEqual(['application/vnd.oci.image.layer.v1.tar', 'application/vnd.example.empty']);
    expect(json.layers[0]!.annotations).toEqual({ 'org.opencontainers.image.title': 'hello.txt', 'org.example.file-note': 'per file' });
    expect(json.layers[1]!.annotations).toEqual({ 'org.opencontainers.image.title': 'empty.txt' });
    expect(json.annotations).toMatchObject({ 'org.example.team': 'infra', 'org.example.equation': 'a=b c', 'org.example.from-file': 'yes' });
    expect(json.annotations['org.opencontainers.image.created']).toBeDefined();

    // ORAS reads the same bytes from the layout.
    const fetched = ok(await oras(['manifest', 'fetch', '--oci-layout', `${layout}:v1`], { env: ws.env }), 'oras manifest fetch');
    expect(fetched.stdout).toBe(manifest.bytes.toString('utf8'));
  });

  it('--config without --artifact-type selects image spec 1.0: the config media type is the type, no artifactType field', async () => {
    const layout = newLayout();
    await writeFile(ws.path('config-v10.json'), '{}');
    const push = parseJsonOutput(
      ok(await inFixture(['push', '--oci-layout', `${layout}:v1`, 'hello.txt', '--config', `${ws.path('config-v10.json')}:application/vnd.example.legacy+json`, '--format', 'json']), 'push'),
    ) as { artifactType: string; digest: string };
    const manifest = await readLayoutManifest(layout, 'v1');
    expect(manifest.digest).toBe(push.digest);
    expect(manifest.json).not.toHaveProperty('artifactType');
    expect((manifest.json.config as { mediaType: string }).mediaType).toBe('application/vnd.example.legacy+json');
    expect(push.artifactType).toBe('application/vnd.example.legacy+json');
  });
});

describe('several processes writing one layout', () => {
  it('keeps every tag when pushes and tags run at once', async () => {
    const layout = newLayout();
    const names = ['p0', 'p1', 'p2', 'p3'];
    // Not in the fixture directory: the round trip compares that directory as a whole.
    const dir = await ws.mkdir('concurrent-src');
    for (const [index, name] of names.entries()) await writeFile(`${dir}/${name}.txt`, `concurrent ${index}\n`);
    const pushes = await Promise.all(names.map((name) => stowage(['push', '--oci-layout', `${layout}:${name}`, `${name}.txt`, '--format', 'json'], { cwd: dir, env: ws.env })));
    const digests = pushes.map((result, index) => (parseJsonOutput(ok(result, `push ${names[index]!}`)) as { digest: string }).digest);
    expect(new Set(digests).size).toBe(names.length);
    const tags = await Promise.all(names.map((name) => stowage(['tag', '--oci-layout', `${layout}:${name}`, `${name}-again`], { env: ws.env })));
    for (const result of tags) ok(result, 'tag');
    for (const [index, name] of names.entries()) {
      expect((await readLayoutManifest(layout, name)).digest).toBe(digests[index]);
      expect((await readLayoutManifest(layout, `${name}-again`)).digest).toBe(digests[index]);
    }
    const listed = ok(await oras(['repo', 'tags', '--oci-layout', layout], { env: ws.env }), 'oras repo tags');
    expect(listed.stdout.trimEnd().split('\n').sort()).toEqual(names.flatMap((name) => [name, `${name}-again`]).sort());
    expect(await temporaryFiles(layout)).toEqual([]);
    expect(await listDir(`${layout}/ingest`)).toEqual([]);
  });
});
