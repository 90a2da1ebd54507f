/**
 * `stowage attach` and `stowage discover`, the built CLI against a real docker-registry (no referrers API, so
 * the `sha256-<hex>` tag index is the path): an SBOM, a signature and a signature of the signature; the tree
 * and JSON outputs; filters and depth; deleting one shrinks the index; ten `attach` processes at once on one
 * subject all end up listed; `--platform`; `pull --include-subject`; OCI layouts; errors.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteRepository } from '../src/registry/repository.js';
import { MediaType } from '../src/oci/media-types.js';
import { fallbackTag } from '../src/oci/referrers.js';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { pushPlatformIndex } from '../test/helpers/store-contract.js';
import { ok, startStowage, stowage, type RunResult } from './helpers/cli.js';
import { expectOneError, listDir, parseJsonOutput, workspace, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();
// A fixed creation time makes every annotation, and so the whole tree, predictable.
const epoch = '1700000000';
const created = '2023-11-14T22:13:20Z';

let ws: Workspace;

beforeAll(async () => {
  ws = await workspace('referrers');
  await writeFile(ws.path('hello.txt'), 'hello\n');
  await writeFile(ws.path('sbom.json'), '{"spdxVersion":"SPDX-2.3"}\n');
  await writeFile(ws.path('sig.bin'), 'signature\n');
  await writeFile(ws.path('countersig.bin'), 'countersignature\n');
});

afterAll(async () => {
  await ws.cleanup();
});

function run(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return stowage(args, { cwd: ws.dir, env: { ...ws.env, SOURCE_DATE_EPOCH: epoch, ...env } });
}

interface AttachJson {
  reference: string;
  digest: string;
  size: number;
  mediaType: string;
  artifactType: string;
  annotations: Record<string, string>;
  subject: { digest: string };
}

interface DiscoverJson {
  reference: string;
  digest: string;
  referrers: ReferrerJson[];
}

interface ReferrerJson {
  reference: string;
  digest: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  referrers: ReferrerJson[];
}

async function attach(subjectRef: string, artifactType: string, file: string, ...extra: string[]): Promise<AttachJson> {
  return parseJsonOutput(ok(await run(['attach', subjectRef, '--artifact-type', artifactType, file, '--format', 'json', ...extra]), `attach ${artifactType}`)) as AttachJson;
}

async function discover(ref: string, ...extra: string[]): Promise<DiscoverJson> {
  return parseJsonOutput(ok(await run(['discover', ref, '--format', 'json', ...extra]), 'discover')) as DiscoverJson;
}

async function pushSubject(name: string): Promise<string> {
  const pushed = parseJsonOutput(ok(await run(['push', `${name}:v1`, 'hello.txt', '--format', 'json']), 'push')) as { digest: string };
  return pushed.digest;
}

describe('attach and discover against a registry without the referrers API', () => {
  it('attaches an SBOM, a signature and a signature of the signature, and shows them as a tree and as JSON', async () => {
    const name = `${registry().host}/${uniqueRepository('e2e-attach')}`;
    const subject = await pushSubject(name);
    const exported = ws.path('sbom-manifest.json');
    const sbom = await attach(`${name}:v1`, 'application/spdx+json', 'sbom.json', '-a', 'org.example.tool=syft', '--export-manifest', exported);
    expect(sbom).toMatchObject({
      reference: `${name}@${sbom.digest}`,
      mediaType: MediaType.ociManifest,
      artifactType: 'application/spdx+json',
      annotations: { 'org.example.tool': 'syft', 'org.opencontainers.image.created': created },
      subject: { digest: subject },
    });
    const manifestBytes = await readFile(exported);
    expect(`sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`).toBe(sbom.digest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      artifactType: 'application/spdx+json',
      config: { mediaType: MediaType.ociEmpty, size: 2 },
      subject: { mediaType: MediaType.ociManifest, digest: subject },
    });

    const text = ok(await run(['attach', `${name}:v1`, '--artifact-type', 'application/vnd.example.signature', 'sig.bin']), 'attach signature');
    expect(text.stdout).toMatch(new RegExp(`^Attached to \\[registry\\] ${name.replace(/[.]/g, '\\.')}@${subject}\nDigest: sha256:[a-f0-9]{64}\n$`));
    const signature = /Digest: (sha256:[a-f0-9]{64})/.exec(text.stdout)?.[1] ?? '';
    const countersignature = await attach(`${name}@${signature}`, 'application/vnd.example.signature', 'countersig.bin', '-a', 'level=2');

    const tree = ok(await run(['discover', `${name}:v1`]), 'discover');
    expect(tree.stdout).toBe(
      [
        `${name}@${subject}`,
        '├── application/spdx+json',
        `│   └── ${sbom.digest}`,
        '│       └── [annotations]',
        '│           ├── org.example.tool: syft',
        `│           └── org.opencontainers.image.created: "${created}"`,
        '└── application/vnd.example.signature',
        `    └── ${signature}`,
        '        ├── [annotations]',
        `        │   └── org.opencontainers.image.created: "${created}"`,
        '        └── application/vnd.example.signature',
        `            └── ${countersignature.digest}`,
        '                └── [annotations]',
        "                    ├── level: '2'",
        `                    └── org.opencontainers.image.created: "${created}"`,
        '',
      ].join('\n'),
    );

    const json = await discover(`${name}:v1`);
    expect(json).toEqual({
      reference: `${name}@${subject}`,
      mediaType: MediaType.ociManifest,
      digest: subject,
      size: expect.any(Number) as number,
      referrers: [
        {
          reference: `${name}@${sbom.digest}`,
          mediaType: MediaType.ociManifest,
          digest: sbom.digest,
          size: sbom.size,
          annotations: { 'org.example.tool': 'syft', 'org.opencontainers.image.created': created },
          artifactType: 'application/spdx+json',
          referrers: [],
        },
        {
          reference: `${name}@${signature}`,
          mediaType: MediaType.ociManifest,
          digest: signature,
          size: expect.any(Number) as number,
          annotations: { 'org.opencontainers.image.created': created },
          artifactType: 'application/vnd.example.signature',
          referrers: [
            {
              reference: `${name}@${countersignature.digest}`,
              mediaType: MediaType.ociManifest,
              digest: countersignature.digest,
              size: countersignature.size,
              annotations: { level: '2', 'org.opencontainers.image.created': created },
              artifactType: 'application/vnd.example.signature',
              referrers: [],
            },
          ],
        },
      ],
    });

    // Filter by type (at every level), and depth.
    const signatures = await discover(`${name}:v1`, '--artifact-type', 'application/vnd.example.signature');
    expect(signatures.referrers.map((node) => node.digest)).toEqual([signature]);
    expect(signatures.referrers[0]?.referrers.map((node) => node.digest)).toEqual([countersignature.digest]);
    expect((await discover(`${name}:v1`, '--artifact-type', 'application/spdx+json')).referrers.map((node) => [node.digest, node.referrers.length])).toEqual([[sbom.digest, 0]]);
    const shallow = await discover(`${name}:v1`, '--depth', '1');
    expect(shallow.referrers.map((node) => node.referrers.length)).toEqual([0, 0]);
    // The chain from its middle.
    expect((await discover(`${name}@${signature}`)).referrers.map((node) => node.digest)).toEqual([countersignature.digest]);
    expect(ok(await run(['discover', `${name}:v1`, '-o', 'json']), 'discover -o json').stdout).toBe(`${JSON.stringify(json, null, 2)}\n`);

    // Delete the SBOM with `manifest delete`: the index shrinks.
    const repository = name.slice(registry().host.length + 1);
    ok(await run(['manifest', 'delete', '-f', `${name}@${sbom.digest}`]), 'manifest delete');
    const after = await discover(`${name}:v1`);
    expect(after.referrers.map((node) => node.digest)).toEqual([signature]);
    const index = (await (await fetch(`http://${registry().host}/v2/${repository}/manifests/${fallbackTag(subject)}`, { headers: { accept: MediaType.ociIndex } })).json()) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests.map((entry) => entry.digest)).toEqual([signature]);
  });

  it('keeps all ten referrers when ten attach processes start at once on one subject', async () => {
    const name = `${registry().host}/${uniqueRepository('e2e-race')}`;
    const subject = await pushSubject(name);
    // A file of its own per process: docker-registry 2.8 can briefly report a blob unknown while several
    // clients upload the same new blob at once, which is not what this test is about.
    for (let index = 0; index < 10; index++) await writeFile(ws.path(`race-${index}.txt`), `racer ${index}\n`);
    const running = Array.from({ length: 10 }, (_, index) =>
      startStowage(['attach', `${name}:v1`, '--artifact-type', `application/vnd.example.race${index}`, `race-${index}.txt`, '--format', 'json'], {
        cwd: ws.dir,
        env: { ...ws.env },
      }),
    );
    const results = await Promise.all(running.map((process) => process.result));
    const attached = results.map((result, index) => (parseJsonOutput(ok(result, `attach ${index}`)) as AttachJson).digest);
    expect(new Set(attached).size).toBe(10);
    const listed = await discover(`${name}:v1`);
    expect(listed.digest).toBe(subject);
    expect(listed.referrers.map((node) => node.digest).sort()).toEqual([...attached].sort());
    expect(listed.referrers.map((node) => node.artifactType).sort()).toEqual(Array.from({ length: 10 }, (_, index) => `application/vnd.example.race${index}`).sort());
    // Old index versions were deleted: only the subject's tag and the fallback tag exist, and the tag holds one index.
    const tags = ok(await run(['repo', 'tags', name]), 'repo tags').stdout.trim().split('\n').sort();
    expect(tags).toEqual([fallbackTag(subject), 'v1'].sort());
  });

  it('attaches to and discovers one platform of an index with --platform', async () => {
    const repository = uniqueRepository('e2e-platform');
    const name = `${registry().host}/${repository}`;
    const repo = new RemoteRepository({ registry: registry().host, repository });
    const { index, images } = await pushPlatformIndex(repo, 'multi');

    const attached = await attach(`${name}:multi`, 'application/vnd.example.note', 'sig.bin', '--platform', 'linux/arm64');
    expect(attached.subject.digest).toBe(images[1]?.digest);
    const arm = await discover(`${name}:multi`, '--platform', 'linux/arm64');
    expect(arm.digest).toBe(images[1]?.digest);
    expect(arm.referrers.map((node) => node.digest)).toEqual([attached.digest]);
    expect((await discover(`${name}:multi`, '--platform', 'linux/amd64')).referrers).toEqual([]);
    expect((await discover(`${name}:multi`)).referrers).toEqual([]);
    expectOneError(await run(['discover', `${name}:multi`, '--platform', 'windows/amd64']), 1, ['windows/amd64']);
    // resolve --platform names the platform's manifest, not the index.
    expect(ok(await run(['resolve', `${name}:multi`, '--platform', 'linux/arm64']), 'resolve --platform').stdout.trim()).toBe(images[1]?.digest);
    expect(ok(await run(['resolve', `${name}:multi`]), 'resolve').stdout.trim()).toBe(index.desc.digest);
    expectOneError(await run(['resolve', `${name}:multi`, '--platform', 'windows/amd64']), 1, ['windows/amd64']);
  });

  it('pull --platform writes the files of that platform\'s manifest in an index', async () => {
    const repository = uniqueRepository('e2e-pull-platform');
    const name = `${registry().host}/${repository}`;
    const repo = new RemoteRepository({ registry: registry().host, repository });
    const { images } = await pushPlatformIndex(repo, 'multi', 'app.txt');

    const out = await ws.mkdir('pull-arm64');
    const pulled = parseJsonOutput(ok(await run(['pull', `${name}:multi`, '--platform', 'linux/arm64', '-o', out, '--format', 'json']), 'pull --platform')) as { reference: string };
    expect(pulled.reference).toBe(`${name}@${images[1]?.digest ?? ''}`);
    expect(await readFile(`${out}/app.txt`, 'utf8')).toBe('built for arm64\n');
    expectOneError(await run(['pull', `${name}:multi`, '--platform', 'linux/s390x', '-o', out]), 1, ['linux/s390x']);
  });

  it('pull --include-subject writes the files of the subject too', async () => {
    const name = `${registry().host}/${uniqueRepository('e2e-include-subject')}`;
    await pushSubject(name);
    const sbom = await attach(`${name}:v1`, 'application/spdx+json', 'sbom.json');
    const only = await ws.mkdir('pull-referrer-only');
    ok(await run(['pull', `${name}@${sbom.digest}`, '-o', only]), 'pull');
    expect(await listDir(only)).toEqual(['sbom.json']);
    const both = await ws.mkdir('pull-with-subject');
    ok(await run(['pull', `${name}@${sbom.digest}`, '-o', both, '--include-subject']), 'pull --include-subject');
    expect((await listDir(both)).sort()).toEqual(['hello.txt', 'sbom.json']);
    expect(await readFile(ws.path('pull-with-subject', 'hello.txt'), 'utf8')).toBe('hello\n');
  });

  it('fails with one line: no --artifact-type, a missing subject, the referrers API asked of a registry without it', async () => {
    const name = `${registry().host}/${uniqueRepository('e2e-referrers-errors')}`;
    await pushSubject(name);
    expectOneError(await run(['attach', `${name}:v1`, 'sig.bin']), 2, ['artifact-type']);
    expectOneError(await run(['attach', `${name}:v1`, '--artifact-type', 'application/vnd.example.x']), 2, ['annotations']);
    // Annotations alone are enough (no files): the one layer is the empty descriptor.
    const noted = parseJsonOutput(ok(await run(['attach', `${name}:v1`, '--artifact-type', 'application/vnd.example.note', '-a', 'note=reviewed', '--format', 'json']), 'attach')) as AttachJson;
    expect(noted.annotations.note).toBe('reviewed');
    expectOneError(await run(['attach', `${name}:nope`, '--artifact-type', 'application/vnd.example.x', 'sig.bin']), 1, ['nope']);
    expectOneError(await run(['discover', `${name}:nope`]), 1, ['nope']);
    expectOneError(await run(['discover', `${name}:v1`, '--distribution-spec', 'v1.1-referrers-api']), 1, ['referrers API']);
    expectOneError(await run(['discover', `${name}:v1`, '--depth', '0']), 2, []);
  });
});

describe('attach and discover in an OCI layout', () => {
  it('answers referrers from the layout graph', async () => {
    const layout = ws.path('layout-referrers');
    ok(await run(['push', '--oci-layout', `${layout}:v1`, 'hello.txt']), 'push');
    const sbom = await attach(`${layout}:v1`, 'application/spdx+json', 'sbom.json', '--oci-layout');
    const sig = await attach(`${layout}:v1`, 'application/vnd.example.signature', 'sig.bin', '--oci-layout');
    const counter = await attach(`${layout}@${sig.digest}`, 'application/vnd.example.signature', 'countersig.bin', '--oci-layout');
    const json = await discover(`${layout}:v1`, '--oci-layout');
    expect(json.referrers.map((node) => node.digest).sort()).toEqual([sbom.digest, sig.digest].sort());
    expect(json.referrers.find((node) => node.digest === sig.digest)?.referrers.map((node) => node.digest)).toEqual([counter.digest]);
    const sboms = await discover(`${layout}:v1`, '--oci-layout', '--artifact-type', 'application/spdx+json');
    expect(sboms.referrers.map((node) => node.digest)).toEqual([sbom.digest]);
  });
});
