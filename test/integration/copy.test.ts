/**
 * copy() between real stores: a docker-registry, an OCI image layout directory and memory. The digest of
 * what is copied never changes on the way, indexes share blobs without copying them twice, and blobs that
 * live in another repository of the same registry are mounted, not uploaded.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OciLayoutStore } from '../../src/content/oci-layout-store.js';
import { MemoryStore } from '../../src/content/memory-store.js';
import { copy } from '../../src/copy/copy.js';
import { emptyDescriptor } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import { pullFiles, pushFiles, snapshotTree, writeRandomFile } from '../helpers/artifacts.js';
import { uniqueRepository, useRegistry, type RunningRegistry } from '../helpers/registry-harness.js';
import { fetchAll, imageIndex, imageManifest, randomBlob, randomConfig, randomTag } from '../helpers/store-contract.js';

const registry = useRegistry();

let sandbox: string;
let src: string;

beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'stowage-copy-'));
  src = join(sandbox, 'src');
  await mkdir(src);
});

afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

function repositoryOf(running: RunningRegistry, name = uniqueRepository('copy')): RemoteRepository {
  return new RemoteRepository({ registry: running.host, repository: name });
}

/** Pushes two files and a directory from `src` to `repo` under `tag`; returns the layer descriptors. */
async function pushSample(repo: RemoteRepository, tag: string): Promise<{ root: Descriptor; layers: Descriptor[] }> {
  await writeRandomFile(join(src, 'one.bin'), 300_000);
  await writeRandomFile(join(src, 'two.txt'), 1234);
  await mkdir(join(src, 'dir', 'sub'), { recursive: true });
  await writeRandomFile(join(src, 'dir', 'sub', 'three.bin'), 5000);
  const pushed = await pushFiles(repo, tag, src, ['one.bin', 'two.txt', 'dir']);
  return { root: pushed.root, layers: pushed.layers };
}

/** The request lines of the registry's access log that concern `repository` (`"METHOD /v2/<repository>/..."`). */
function requestsFor(running: RunningRegistry, repository: string): string[] {
  return running
    .log()
    .split('\n')
    .filter((line) => line.includes(` /v2/${repository}/`) && /"(GET|HEAD|POST|PUT|PATCH|DELETE) /.test(line));
}

describe('copy between the registry, an OCI layout and memory', () => {
  it('keeps the digest from registry to layout to another repository to memory, and the files byte for byte', async () => {
    const running = registry();
    const first = repositoryOf(running);
    const { root } = await pushSample(first, 'v1');

    const layout = await OciLayoutStore.open(join(sandbox, 'layout'), { create: true });
    const second = repositoryOf(running);
    const memory = new MemoryStore();
    const toLayout = await copy(first, 'v1', layout, 'v1');
    const toSecond = await copy(layout, 'v1', second, 'v2');
    const toMemory = await copy(second, 'v2', memory, 'v3');
    for (const desc of [toLayout, toSecond, toMemory]) expect(desc).toMatchObject({ mediaType: root.mediaType, digest: root.digest, size: root.size });
    expect((await layout.resolve('v1')).digest).toBe(root.digest);
    expect((await second.resolve('v2')).digest).toBe(root.digest);
    expect((await memory.resolve('v3')).digest).toBe(root.digest);
    // The manifest bytes themselves, not a re-serialisation.
    const original = await fetchAll(first, root);
    expect((await fetchAll(layout, root)).equals(original)).toBe(true);
    expect((await fetchAll(second, root)).equals(original)).toBe(true);
    expect((await fetchAll(memory, root)).equals(original)).toBe(true);

    const expected = await snapshotTree(src);
    for (const [name, store, ref] of [
      ['memory', memory, 'v3'],
      ['second repository', second, 'v2'],
    ] as const) {
      const out = join(sandbox, `out-${name}`);
      const pulled = await pullFiles(store, ref, out);
      expect(pulled.root.digest, name).toBe(root.digest);
      expect(await snapshotTree(out), name).toEqual(expected);
    }
  });

  it('copies an index whose two manifests share a blob, transferring the shared blob once', async () => {
    const running = registry();
    const source = repositoryOf(running);
    const shared = randomBlob(50_000);
    const onlyFirst = randomBlob(3000);
    const onlySecond = randomBlob(4000);
    const configs = [randomConfig(), randomConfig()];
    for (const blob of [shared, onlyFirst, onlySecond, ...configs]) await source.push(blob.desc, blob.bytes);
    const manifests = [imageManifest(configs[0]!.desc, [shared.desc, onlyFirst.desc]), imageManifest(configs[1]!.desc, [shared.desc, onlySecond.desc])];
    for (const manifest of manifests) await source.push(manifest.desc, manifest.bytes);
    const index = imageIndex(manifests.map((manifest) => manifest.desc));
    const tag = randomTag();
    await source.pushReference(index.desc, index.bytes, tag);

    const destination = repositoryOf(running);
    const started: string[] = [];
    const done: string[] = [];
    const root = await copy(source, tag, destination, tag, {
      concurrency: 4,
      onStart: (desc) => started.push(desc.digest),
      onDone: (desc) => done.push(desc.digest),
    });
    expect(root).toMatchObject(index.desc);
    const everything = [index, ...manifests, shared, onlyFirst, onlySecond, ...configs];
    expect([...started].sort()).toEqual(everything.map((blob) => blob.desc.digest).sort());
    expect(started.filter((digest) => digest === shared.desc.digest)).toHaveLength(1);
    expect([...done].sort()).toEqual([...started].sort());
    // Children before parents: the index is pushed last.
    expect(done.at(-1)).toBe(index.desc.digest);

    expect(await destination.resolve(tag)).toEqual(index.desc);
    for (const blob of everything) expect((await fetchAll(destination, blob.desc)).equals(blob.bytes), blob.desc.digest).toBe(true);
    // The destination received one upload session per blob: the shared one only once.
    const uploads = requestsFor(running, destination.repository).filter((line) => line.includes(`"POST /v2/${destination.repository}/blobs/uploads/`));
    expect(uploads).toHaveLength(5);

    // Copied again: the index exists, so nothing below it is looked at.
    const skipped: string[] = [];
    const startedAgain: string[] = [];
    await copy(source, tag, destination, tag, { onSkipped: (desc) => skipped.push(desc.digest), onStart: (desc) => startedAgain.push(desc.digest) });
    expect(skipped).toEqual([index.desc.digest]);
    expect(startedAgain).toEqual([]);
  });
});

describe('copy with mount candidates between repositories of one registry', () => {
  it('mounts every blob instead of uploading it', async () => {
    const running = registry();
    const source = repositoryOf(running);
    const { root, layers } = await pushSample(source, 'v1');
    const destination = repositoryOf(running);

    const mounted: [string, string][] = [];
    const started: string[] = [];
    const candidatesAskedFor: string[] = [];
    await copy(source, 'v1', destination, 'v1', {
      mountCandidates: (desc) => {
        candidatesAskedFor.push(desc.digest);
        return [source.repository];
      },
      onMounted: (desc, from) => mounted.push([desc.digest, from]),
      onStart: (desc) => started.push(desc.digest),
    });
    const blobs = [...layers.map((layer) => layer.digest), emptyDescriptor.digest];
    expect(mounted.map(([digest]) => digest).sort()).toEqual([...blobs].sort());
    expect(mounted.every(([, from]) => from === source.repository)).toBe(true);
    expect([...candidatesAskedFor].sort()).toEqual([...blobs].sort());
    // Only the manifest was transferred.
    expect(started).toEqual([root.digest]);

    const requests = requestsFor(running, destination.repository);
    for (const digest of blobs) {
      const mountLine = requests.find((line) => line.includes(`mount=${encodeURIComponent(digest)}`));
      expect(mountLine, `a mount request for ${digest}`).toBeDefined();
      expect(mountLine).toContain(`from=${source.repository}`);
      expect(mountLine).toMatch(/" 201 /);
    }
    // No blob bytes were sent to the destination: no PATCH or PUT of an upload session.
    expect(requests.filter((line) => /"(PATCH|PUT) \/v2\/[^ ]+\/blobs\/uploads\//.test(line))).toEqual([]);
    expect((await destination.resolve('v1')).digest).toBe(root.digest);

    const out = join(sandbox, 'out');
    await pullFiles(destination, 'v1', out);
    expect(await snapshotTree(out)).toEqual(await snapshotTree(src));
  });

  it('falls back to the next candidate, then to an upload, when a mount is refused', async () => {
    const running = registry();
    const source = repositoryOf(running);
    const { root, layers } = await pushSample(source, 'v1');
    const destination = repositoryOf(running);
    const empty = uniqueRepository('copy-empty');
    const bigLayer = layers[0]!;

    const mounted: [string, string][] = [];
    const started: string[] = [];
    await copy(source, 'v1', destination, 'v1', {
      // The big layer is only offered from a repository that does not have it: it must be uploaded.
      mountCandidates: (desc) => (desc.digest === bigLayer.digest ? [empty] : [empty, source.repository]),
      onMounted: (desc, from) => mounted.push([desc.digest, from]),
      onStart: (desc) => started.push(desc.digest),
    });
    const others = [...layers.slice(1).map((layer) => layer.digest), emptyDescriptor.digest];
    expect(mounted.map(([digest]) => digest).sort()).toEqual([...others].sort());
    expect(mounted.every(([, from]) => from === source.repository)).toBe(true);
    expect([...started].sort()).toEqual([bigLayer.digest, root.digest].sort());

    const requests = requestsFor(running, destination.repository);
    const puts = requests.filter((line) => /"(PATCH|PUT) \/v2\/[^ ]+\/blobs\/uploads\//.test(line));
    expect(puts).toHaveLength(1);
    expect(puts[0]).toContain(`digest=${encodeURIComponent(bigLayer.digest)}`);
    // Every refused mount opened a session (202). Where another candidate was left, it was cancelled; the big
    // layer had none left, so its bytes went into that session: no second POST for it.
    const refused = requests.filter((line) => line.includes(`from=${empty}`));
    expect(refused).toHaveLength(1 + others.length);
    expect(requests.filter((line) => line.includes(`"DELETE /v2/${destination.repository}/blobs/uploads/`))).toHaveLength(others.length);
    expect(requests.filter((line) => line.includes(`"POST /v2/${destination.repository}/blobs/uploads/`))).toHaveLength(refused.length + others.length);
    expect((await fetchAll(destination, bigLayer)).byteLength).toBe(bigLayer.size);
  });

  it('mounts on its own between two repositories of one registry reached with one client: no blob bytes go up', async () => {
    const running = registry();
    const source = repositoryOf(running);
    const { root, layers } = await pushSample(source, 'v1');
    // One client for both, as the CLI has for one registry and one set of credentials.
    const destination = new RemoteRepository({ registry: running.host, repository: uniqueRepository('copy-auto'), client: source.client });
    expect(destination.mountableFrom(source)).toBe(source.repository);
    expect(repositoryOf(running).mountableFrom(source)).toBeUndefined();

    const mounted: string[] = [];
    await copy(source, 'v1', destination, 'v2', { onMounted: (desc) => mounted.push(desc.digest) });
    expect(mounted.sort()).toEqual([...layers.map((layer) => layer.digest), emptyDescriptor.digest].sort());
    const requests = requestsFor(running, destination.repository);
    expect(requests.filter((line) => /"(PATCH|PUT) \/v2\/[^ ]+\/blobs\/uploads\//.test(line))).toEqual([]);
    expect((await destination.resolve('v2')).digest).toBe(root.digest);
  });
});
