/**
 * `stowage copy` (alias `cp`), the built CLI against two docker-registry instances (no referrers API): within
 * one registry blobs are mounted (no blob bytes go up); to another registry the artifact arrives whole under
 * several tags; `-r` copies a chain of referrers and `discover` on the destination shows the same tree;
 * `--platform` copies one manifest of an index; registry -> OCI layout -> layout -> registry, with
 * `--to-oci-layout-path`; text and JSON output; errors as one line.
 */
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../src/oci/media-types.js';
import { fallbackTag } from '../src/oci/referrers.js';
import { RemoteRepository } from '../src/registry/repository.js';
import { uniqueRepository, useRegistry, type RunningRegistry } from '../test/helpers/registry-harness.js';
import { pushPlatformIndex } from '../test/helpers/store-contract.js';
import { ok, stowage, type RunResult } from './helpers/cli.js';
import { expectOneError, parseJsonOutput, patternBytes, snapshotTree, workspace, type Workspace } from './helpers/fixtures.js';

const first = useRegistry();
const second = useRegistry();
const epoch = '1700000000';

let ws: Workspace;
let files: string;
/** What a pull of `hello.txt` and `big.bin` must write. */
let pushedPair: Record<string, string>;

beforeAll(async () => {
  ws = await workspace('copy');
  files = await ws.mkdir('files');
  await writeFile(ws.path('files', 'hello.txt'), 'hello from copy\n');
  await writeFile(ws.path('files', 'big.bin'), patternBytes(300_000, 7));
  const snapshot = await snapshotTree(files);
  pushedPair = { 'big.bin': snapshot['big.bin'] ?? '', 'hello.txt': snapshot['hello.txt'] ?? '' };
  await writeFile(ws.path('files', 'sbom.json'), '{"spdxVersion":"SPDX-2.3"}\n');
  await writeFile(ws.path('files', 'sig.bin'), 'signature\n');
  await writeFile(ws.path('files', 'countersig.bin'), 'countersignature\n');
});

afterAll(async () => {
  await ws.cleanup();
});

function run(args: string[]): Promise<RunResult> {
  return stowage(args, { cwd: files, env: { ...ws.env, SOURCE_DATE_EPOCH: epoch } });
}

interface CopyJson {
  source: string;
  reference: string;
  mediaType: string;
  digest: string;
  size: number;
  referenceAsTags: string[];
  referrers: { reference: string; digest: string; artifactType?: string }[];
}

interface TreeJson {
  reference: string;
  digest: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  referrers: TreeJson[];
}

async function push(name: string, ...files: string[]): Promise<string> {
  const pushed = parseJsonOutput(ok(await run(['push', name, ...files, '--format', 'json']), `push ${name}`)) as { digest: string };
  return pushed.digest;
}

async function attach(subject: string, artifactType: string, file: string, ...extra: string[]): Promise<string> {
  const attached = parseJsonOutput(ok(await run(['attach', subject, '--artifact-type', artifactType, file, '--format', 'json', ...extra]), `attach ${artifactType}`)) as {
    digest: string;
  };
  return attached.digest;
}

async function discover(ref: string, ...extra: string[]): Promise<TreeJson> {
  return parseJsonOutput(ok(await run(['discover', ref, '--format', 'json', ...extra]), `discover ${ref}`)) as TreeJson;
}

/** The tree without references (they name the repository): digest, type and annotations, nested. */
function shape(node: TreeJson): unknown {
  return { digest: node.digest, artifactType: node.artifactType, annotations: node.annotations, referrers: node.referrers.map(shape) };
}

/** Request lines of the registry's log for `repository` that carry blob bytes (PATCH or PUT of an upload session). */
function blobUploads(running: RunningRegistry, repository: string): string[] {
  return running
    .log()
    .split('\n')
    .filter((line) => new RegExp(`"(PATCH|PUT) /v2/${repository}/blobs/uploads/`).test(line));
}

function mountRequests(running: RunningRegistry, repository: string): string[] {
  return running
    .log()
    .split('\n')
    .filter((line) => line.includes(`"POST /v2/${repository}/blobs/uploads/?mount=`));
}

async function tagsOf(name: string): Promise<string[]> {
  return ok(await run(['repo', 'tags', name]), 'repo tags').stdout.trim().split('\n').filter(Boolean).sort();
}

describe('copy between registries', () => {
  it('mounts every blob between two repositories of one registry: no blob bytes go up', async () => {
    const repository = uniqueRepository('cp-mount');
    const source = `${first().host}/${uniqueRepository('cp-mount-src')}`;
    const digest = await push(`${source}:v1`, 'hello.txt', 'big.bin');
    const result = ok(await run(['cp', `${source}:v1`, `${first().host}/${repository}:v2`]), 'cp');
    expect(result.stdout).toBe(`Copied [registry] ${source}:v1 => [registry] ${first().host}/${repository}:v2\nDigest: ${digest}\n`);
    // Three blobs (two files and the empty config), each mounted with 201; not one byte uploaded.
    const mounts = mountRequests(first(), repository);
    expect(mounts).toHaveLength(3);
    for (const line of mounts) expect(line).toMatch(/" 201 /);
    expect(blobUploads(first(), repository)).toEqual([]);
    const out = await ws.mkdir('pull-mounted');
    ok(await run(['pull', `${first().host}/${repository}:v2`, '-o', out]), 'pull');
    expect(await snapshotTree(out)).toEqual(pushedPair);

    // The same registry reached another way (here: an extra header on one side) gets its own connection: streamed.
    const separate = uniqueRepository('cp-separate');
    ok(await run(['cp', '--to-header', 'X-Example: 1', `${source}:v1`, `${first().host}/${separate}:v1`]), 'cp --to-header');
    expect(mountRequests(first(), separate)).toEqual([]);
    expect(blobUploads(first(), separate)).toHaveLength(3);
  });

  it('copies to another registry under several tags, byte for byte, and says so as text and JSON', async () => {
    const source = `${first().host}/${uniqueRepository('cp-cross-src')}`;
    const destination = `${second().host}/${uniqueRepository('cp-cross-dst')}`;
    const digest = await push(`${source}:v1`, 'hello.txt', 'big.bin');
    const text = ok(await run(['copy', `${source}:v1`, `${destination}:a,b,c`]), 'copy');
    expect(text.stdout).toBe(`Copied [registry] ${source}:v1 => [registry] ${destination}:a\nTagged b\nTagged c\nDigest: ${digest}\n`);
    expect(await tagsOf(destination)).toEqual(['a', 'b', 'c']);
    const repository = destination.slice(second().host.length + 1);
    expect(mountRequests(second(), repository)).toEqual([]);
    expect(blobUploads(second(), repository).length).toBeGreaterThanOrEqual(3);
    const out = await ws.mkdir('pull-cross');
    ok(await run(['pull', `${destination}:b`, '-o', out]), 'pull');
    expect(await snapshotTree(out)).toEqual(pushedPair);

    // Again, by digest, as JSON: everything is there already.
    const json = parseJsonOutput(ok(await run(['cp', `${source}@${digest}`, `${destination}:d`, '--format', 'json']), 'cp --format json')) as CopyJson;
    expect(json).toEqual({
      source: `${source}@${digest}`,
      reference: `${destination}@${digest}`,
      mediaType: MediaType.ociManifest,
      digest,
      size: expect.any(Number) as number,
      referenceAsTags: [`${destination}:d`],
      referrers: [],
    });
    expect(await tagsOf(destination)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('-r copies a chain of referrers to another registry: discover shows the same tree there', async () => {
    const source = `${first().host}/${uniqueRepository('cp-r-src')}`;
    const destination = `${second().host}/${uniqueRepository('cp-r-dst')}`;
    const subject = await push(`${source}:v1`, 'hello.txt');
    const sbom = await attach(`${source}:v1`, 'application/spdx+json', 'sbom.json', '-a', 'org.example.tool=syft');
    const signature = await attach(`${source}:v1`, 'application/vnd.example.signature', 'sig.bin');
    const countersignature = await attach(`${source}@${signature}`, 'application/vnd.example.signature', 'countersig.bin', '-a', 'level=2');
    const before = await discover(`${source}:v1`);
    expect(before.referrers).toHaveLength(2);

    // Without -r, no referrer goes along.
    ok(await run(['cp', `${source}:v1`, `${destination}:plain`]), 'cp');
    expect((await discover(`${destination}:plain`)).referrers).toEqual([]);

    const json = parseJsonOutput(ok(await run(['cp', '-r', `${source}:v1`, `${destination}:v1`, '--format', 'json']), 'cp -r')) as CopyJson;
    expect(json.digest).toBe(subject);
    expect(json.referrers.map((node) => node.digest).sort()).toEqual([sbom, signature, countersignature].sort());
    expect(json.referrers.every((node) => node.reference === `${destination}@${node.digest}`)).toBe(true);

    const after = await discover(`${destination}:v1`);
    expect(after.reference).toBe(`${destination}@${subject}`);
    expect(shape(after)).toEqual(shape(before));
    // The tree as text too, but for the name.
    const sourceTree = ok(await run(['discover', `${source}:v1`]), 'discover').stdout;
    const destinationTree = ok(await run(['discover', `${destination}:v1`]), 'discover').stdout;
    expect(destinationTree).toBe(sourceTree.replace(source, destination));
    // The destination has its own fallback index for both subjects, listing its own manifests.
    expect(await tagsOf(destination)).toEqual([fallbackTag(signature), fallbackTag(subject), 'plain', 'v1'].sort());

    // Copied again: all there, nothing uploaded, the tree unchanged.
    const repository = destination.slice(second().host.length + 1);
    const uploadsBefore = blobUploads(second(), repository).length;
    ok(await run(['cp', '-r', `${source}:v1`, `${destination}:v1`]), 'cp -r again');
    expect(blobUploads(second(), repository).length).toBe(uploadsBefore);
    expect(shape(await discover(`${destination}:v1`))).toEqual(shape(before));
  });

  it('--platform copies one manifest of an index; -r also brings the referrers of the index and of its manifests', async () => {
    const repository = uniqueRepository('cp-platform');
    const repo = new RemoteRepository({ registry: first().host, repository });
    const { index, images } = await pushPlatformIndex(repo, 'multi');
    const source = `${first().host}/${repository}`;
    const onArm = await attach(`${source}:multi`, 'application/vnd.example.note', 'sig.bin', '--platform', 'linux/arm64');
    const onIndex = await attach(`${source}:multi`, 'application/spdx+json', 'sbom.json');

    const armOnly = `${second().host}/${uniqueRepository('cp-platform-arm')}`;
    const text = ok(await run(['cp', '--platform', 'linux/arm64', `${source}:multi`, `${armOnly}:v1`]), 'cp --platform');
    expect(text.stdout).toContain(`Digest: ${images[1]?.digest}\n`);
    const destination = new RemoteRepository({ registry: second().host, repository: armOnly.slice(second().host.length + 1) });
    expect((await destination.resolve('v1')).digest).toBe(images[1]?.digest);
    expect(await destination.exists(images[0]!)).toBe(false);
    expect(await destination.exists(index.desc)).toBe(false);

    const whole = `${second().host}/${uniqueRepository('cp-platform-all')}`;
    ok(await run(['cp', '-r', `${source}:multi`, `${whole}:v1`]), 'cp -r index');
    expect((await discover(`${whole}:v1`)).referrers.map((node) => node.digest)).toEqual([onIndex]);
    expect((await discover(`${whole}:v1`, '--platform', 'linux/arm64')).referrers.map((node) => node.digest)).toEqual([onArm]);
    expectOneError(await run(['cp', '--platform', 'windows/amd64', `${source}:multi`, `${whole}:w`]), 1, ['windows/amd64']);
  });
});

describe('copy with OCI layouts', () => {
  it('registry -> layout -> layout -> registry keeps the digest and the referrers', async () => {
    const source = `${first().host}/${uniqueRepository('cp-layout-src')}`;
    const subject = await push(`${source}:v1`, 'hello.txt', 'big.bin');
    const sbom = await attach(`${source}:v1`, 'application/spdx+json', 'sbom.json');
    const signature = await attach(`${source}@${sbom}`, 'application/vnd.example.signature', 'sig.bin');
    const layout = ws.path('layout-one');
    const toLayout = ok(await run(['cp', '-r', '--to-oci-layout', `${source}:v1`, `${layout}:t1`]), 'cp to layout');
    expect(toLayout.stdout).toBe(`Copied [registry] ${source}:v1 => [oci-layout] ${layout}:t1\nDigest: ${subject}\n`);
    const inLayout = await discover(`${layout}:t1`, '--oci-layout');
    expect(inLayout.referrers.map((node) => [node.digest, node.referrers.map((child) => child.digest)])).toEqual([[sbom, [signature]]]);

    const other = ws.path('layout-two');
    const between = ok(await run(['cp', '-r', '--from-oci-layout', '--to-oci-layout', `${layout}:t1`, `${other}:a,b`]), 'cp layout to layout');
    expect(between.stdout).toBe(`Copied [oci-layout] ${layout}:t1 => [oci-layout] ${other}:a\nTagged b\nDigest: ${subject}\n`);
    expect(shape(await discover(`${other}:b`, '--oci-layout'))).toEqual(shape(inLayout));

    const back = `${second().host}/${uniqueRepository('cp-layout-back')}`;
    ok(await run(['cp', '-r', '--from-oci-layout-path', other, 'a', `${back}:v1`]), 'cp from layout path');
    const tree = await discover(`${back}:v1`);
    expect(tree.digest).toBe(subject);
    expect(tree.referrers.map((node) => [node.digest, node.referrers.map((child) => child.digest)])).toEqual([[sbom, [signature]]]);
    const out = await ws.mkdir('pull-back');
    ok(await run(['pull', `${back}:v1`, '-o', out]), 'pull');
    expect(await snapshotTree(out)).toEqual(pushedPair);

    // --to-oci-layout-path with no tag: listed untagged.
    const untagged = ws.path('layout-untagged');
    const result = ok(await run(['cp', '--to-oci-layout-path', untagged, `${source}:v1`, '']), 'cp to layout path');
    expect(result.stdout).toBe(`Copied [registry] ${source}:v1 => [oci-layout] ${untagged}\nDigest: ${subject}\n`);
    expect(ok(await run(['resolve', '--oci-layout', `${untagged}@${subject}`]), 'resolve').stdout.trim()).toBe(subject);
  });
});

describe('copy errors', () => {
  it('fails with one line and the right exit code', async () => {
    const source = `${first().host}/${uniqueRepository('cp-errors')}`;
    const digest = await push(`${source}:v1`, 'hello.txt');
    const other = `${second().host}/${uniqueRepository('cp-errors-dst')}`;
    expectOneError(await run(['cp', source, `${other}:v1`]), 2, ['tag or digest']);
    expectOneError(await run(['cp', `${source}:nope`, `${other}:v1`]), 1, ['nope']);
    const wrong = `sha256:${'0'.repeat(64)}`;
    expectOneError(await run(['cp', `${source}:v1`, `${other}@${wrong}`]), 2, [wrong, digest]);
    expectOneError(await run(['cp', '--from-oci-layout', '--from-oci-layout-path', ws.path('x'), 'v1', `${other}:v1`]), 2, ['--from-oci-layout-path']);
    expectOneError(await run(['cp', '-r', '--from-distribution-spec', 'v1.1-referrers-api', `${source}:v1`, `${other}:v1`]), 1, ['referrers API']);
    expectOneError(await run(['cp', '--from-oci-layout', `${ws.path('missing-layout')}:v1`, `${other}:v1`]), 1, ['missing-layout']);
  });
});
