/**
 * copyWithReferrers / copyReferrers (what `copy -r` runs) between two real docker-registry instances, an OCI
 * layout and memory: referrers of an index, of a manifest in it, and of a referrer arrive with their blobs and
 * are listed at the destination; a referrer the destination has but does not list gets listed; copying
 * twice uploads nothing more.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory-store.js';
import { OciLayoutStore } from '../../src/content/oci-layout-store.js';
import { referrerTree, type ReferrerNode } from '../../src/content/referrers.js';
import type { Target } from '../../src/content/store.js';
import { copyGraph } from '../../src/copy/copy.js';
import { copyReferrers, copyWithReferrers } from '../../src/copy/referrers.js';
import { emptyDescriptor, emptyJson } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import { uniqueRepository, useRegistry, type RunningRegistry } from '../helpers/registry-harness.js';
import { imageIndex, imageManifest, pushImage, randomBlob, type Blob } from '../helpers/store-contract.js';

const first = useRegistry();
const second = useRegistry();

let sandbox: string;

beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'stowage-copy-referrers-'));
});

afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

function repositoryOf(running: RunningRegistry): RemoteRepository {
  return new RemoteRepository({ registry: running.host, repository: uniqueRepository('copy-r'), referrersUpdate: { settleMs: 50 } });
}

/** Pushes an artifact manifest with one random layer whose subject is `subject`. */
async function attach(store: Target, subject: Descriptor, artifactType: string): Promise<Blob> {
  const layer = randomBlob(2000);
  await store.push(layer.desc, layer.bytes);
  if (!(await store.exists(emptyDescriptor))) await store.push(emptyDescriptor, emptyJson);
  const manifest = imageManifest(emptyDescriptor, [layer.desc], {
    artifactType,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  });
  await store.push(manifest.desc, manifest.bytes);
  return manifest;
}

/** `artifactType digest` per node, nested by indentation, sorted per level. */
function outline(nodes: ReferrerNode[], depth = 0): string[] {
  return [...nodes]
    .sort((a, b) => a.descriptor.digest.localeCompare(b.descriptor.digest))
    .flatMap((node) => [`${'  '.repeat(depth)}${node.descriptor.artifactType ?? ''} ${node.descriptor.digest}`, ...outline(node.referrers, depth + 1)]);
}

/** An index of two images, with a referrer on the index, one on the second image, and one on that referrer. */
async function sample(store: Target): Promise<{ index: Blob; images: Blob[]; referrers: Blob[] }> {
  const images = [(await pushImage(store)).manifest, (await pushImage(store)).manifest];
  const index = imageIndex(images.map((image) => image.desc));
  await store.push(index.desc, index.bytes);
  await store.tag(index.desc, 'v1');
  const onIndex = await attach(store, index.desc, 'application/spdx+json');
  const onImage = await attach(store, images[1]!.desc, 'application/vnd.example.signature');
  const onReferrer = await attach(store, onImage.desc, 'application/vnd.example.countersignature');
  return { index, images, referrers: [onIndex, onImage, onReferrer] };
}

describe('copyWithReferrers', () => {
  it('copies the referrers of an index, of its manifests and of referrers to another registry', async () => {
    const source = repositoryOf(first());
    const { index, images, referrers } = await sample(source);
    const destination = repositoryOf(second());
    const found: [string, string][] = [];
    const result = await copyWithReferrers(source, 'v1', destination, 'v1', { onReferrer: (referrer, subject) => found.push([referrer.digest, subject.digest]) });
    expect(result.root.digest).toBe(index.desc.digest);
    const [onIndex, onImage, onReferrer] = referrers.map((referrer) => referrer.desc.digest);
    expect(found.sort()).toEqual(
      [
        [onIndex, index.desc.digest],
        [onImage, images[1]!.desc.digest],
        [onReferrer, onImage],
      ].sort(),
    );
    expect(result.referrers.map((desc) => desc.digest).sort()).toEqual([onIndex, onImage, onReferrer].sort());
    // Listed at the destination as at the source, for the index and for the image.
    for (const subject of [index.desc, images[1]!.desc]) {
      expect(outline(await referrerTree(destination, subject)), subject.digest).toEqual(outline(await referrerTree(source, subject)));
    }
    expect(outline(await referrerTree(destination, images[1]!.desc))).toHaveLength(2);
    // Every referrer with its blobs.
    for (const referrer of referrers) expect(await destination.exists(referrer.desc)).toBe(true);
    expect((await destination.resolve('v1')).digest).toBe(index.desc.digest);

    // Again: everything is skipped, nothing started.
    const started: string[] = [];
    await copyWithReferrers(source, 'v1', destination, 'v1', { onStart: (desc) => started.push(desc.digest) });
    expect(started).toEqual([]);
  });

  it('lists a referrer the destination has but does not list (an earlier copy stopped before the index update)', async () => {
    const source = repositoryOf(first());
    const image = (await pushImage(source)).manifest;
    const referrer = await attach(source, image.desc, 'application/spdx+json');
    const destination = repositoryOf(second());
    await copyGraph(source, destination, image.desc);
    // The referrer goes up without an index update (as if the copy had stopped right after its PUT).
    const bare = new RemoteRepository({ registry: second().host, repository: destination.repository });
    bare.useReferrers('api');
    await copyGraph(source, bare, referrer.desc);
    expect(await referrerTree(destination, image.desc)).toEqual([]);

    const skipped: string[] = [];
    const copied = await copyReferrers(source, destination, image.desc, { onSkipped: (desc) => skipped.push(desc.digest) });
    expect(copied.map((desc) => desc.digest)).toEqual([referrer.desc.digest]);
    expect(skipped).toEqual([referrer.desc.digest]);
    expect(outline(await referrerTree(destination, image.desc))).toEqual(outline(await referrerTree(source, image.desc)));
  });

  it('copies referrers from memory to an OCI layout and from there to a registry', async () => {
    const memory = new MemoryStore();
    const { index, images, referrers } = await sample(memory);
    const layout = await OciLayoutStore.open(join(sandbox, 'layout'), { create: true });
    await copyWithReferrers(memory, 'v1', layout, 'v1');
    const destination = repositoryOf(second());
    const { referrers: copied } = await copyWithReferrers(layout, 'v1', destination, 'v1');
    expect(copied.map((desc) => desc.digest).sort()).toEqual(referrers.map((referrer) => referrer.desc.digest).sort());
    for (const subject of [index.desc, images[1]!.desc]) {
      const expected = outline(await referrerTree(memory, subject));
      expect(outline(await referrerTree(layout, subject))).toEqual(expected);
      expect(outline(await referrerTree(destination, subject))).toEqual(expected);
    }
  });
});
