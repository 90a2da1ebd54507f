/** Referrers answered from a store's own graph: the OCI layout and memory stores, and the referrer tree. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory-store.js';
import { OciLayoutStore } from '../../src/content/oci-layout-store.js';
import { referrerTree } from '../../src/content/referrers.js';
import { selectPlatform } from '../../src/content/select-platform.js';
import type { Target } from '../../src/content/store.js';
import { MediaType, emptyDescriptor, emptyJson } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { describeBytes, expectCode, imageIndex, imageManifest, pushImage, randomBlob } from '../helpers/store-contract.js';

async function attach(store: Target, subject: Descriptor, artifactType: string, annotations: Record<string, string> = {}): Promise<Descriptor> {
  await store.push({ ...emptyDescriptor }, emptyJson);
  const layer = randomBlob(8);
  await store.push(layer.desc, layer.bytes);
  const manifest = imageManifest({ ...emptyDescriptor }, [layer.desc], {
    artifactType,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  });
  await store.push(manifest.desc, manifest.bytes);
  return manifest.desc;
}

async function list(store: MemoryStore | OciLayoutStore, subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for await (const page of store.referrers(subject, artifactType === undefined ? {} : { artifactType })) out.push(...page);
  return out;
}

const stores: [string, () => Promise<{ store: MemoryStore | OciLayoutStore; cleanup: () => Promise<void> }>][] = [
  ['memory', () => Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() })],
  [
    'OCI layout',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'stowage-referrers-'));
      return { store: await OciLayoutStore.open(join(dir, 'layout'), { create: true }), cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  ],
];

describe.each(stores)('referrers from the graph: %s', (_name, open) => {
  it('lists the manifests whose subject is the subject, with artifact type and annotations, filtered on request', async () => {
    const { store, cleanup } = await open();
    try {
      const { manifest: image, layer } = await pushImage(store);
      const sbom = await attach(store, image.desc, 'application/spdx+json', { 'org.example.tool': 'syft' });
      const signature = await attach(store, image.desc, 'application/vnd.example.signature');
      const countersignature = await attach(store, signature, 'application/vnd.example.signature');
      // An index that lists the image is a predecessor, not a referrer.
      const index = imageIndex([image.desc]);
      await store.push(index.desc, index.bytes);

      const all = await list(store, image.desc);
      expect(all.map((desc) => desc.digest).sort()).toEqual([sbom.digest, signature.digest].sort());
      expect(all.find((desc) => desc.digest === sbom.digest)).toEqual({ ...sbom, annotations: { 'org.example.tool': 'syft' }, artifactType: 'application/spdx+json' });
      expect((await list(store, image.desc, 'application/vnd.example.signature')).map((desc) => desc.digest)).toEqual([signature.digest]);
      expect(await list(store, layer.desc)).toEqual([]);

      const tree = await referrerTree(store, image.desc);
      expect(tree.find((node) => node.descriptor.digest === signature.digest)?.referrers.map((node) => node.descriptor.digest)).toEqual([countersignature.digest]);
      const filtered = await referrerTree(store, image.desc, { artifactType: 'application/spdx+json' });
      expect(filtered.map((node) => node.descriptor.digest)).toEqual([sbom.digest]);
      await expectCode(referrerTree(store, image.desc, { depth: 0 }), 'INVALID_ARGUMENT');
    } finally {
      await cleanup();
    }
  });

  it('forgets a deleted referrer', async () => {
    const { store, cleanup } = await open();
    try {
      const { manifest: image } = await pushImage(store);
      const sbom = await attach(store, image.desc, 'application/spdx+json');
      const other = await attach(store, image.desc, 'application/vnd.example.other');
      await store.delete(sbom);
      expect((await list(store, image.desc)).map((desc) => desc.digest)).toEqual([other.digest]);
    } finally {
      await cleanup();
    }
  });
});

describe('referrerTree', () => {
  it('refuses a store that cannot list referrers', async () => {
    await expectCode(referrerTree({}, randomBlob(1, MediaType.ociManifest).desc), 'UNSUPPORTED');
  });
});

describe('selectPlatform', () => {
  it('picks the entry of an index for a platform, checks an image manifest against its config', async () => {
    const store = new MemoryStore();
    const images: Descriptor[] = [];
    for (const architecture of ['amd64', 'arm64']) {
      const config = Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
      const configDesc = describeBytes(config, MediaType.ociConfig);
      await store.push(configDesc, config);
      const manifest = imageManifest(configDesc, []);
      await store.push(manifest.desc, manifest.bytes);
      images.push({ ...manifest.desc, platform: { architecture, os: 'linux' } });
    }
    const index = imageIndex(images);
    await store.push(index.desc, index.bytes);
    const arm = await selectPlatform(store, index.desc, { os: 'linux', architecture: 'arm64' }, 'test');
    expect(arm.digest).toBe(images[1]?.digest);
    const plain = { mediaType: MediaType.ociManifest, digest: images[0]?.digest ?? '', size: images[0]?.size ?? 0 };
    expect((await selectPlatform(store, plain, { os: 'linux', architecture: 'amd64' }, 'test')).digest).toBe(plain.digest);
    await expectCode(selectPlatform(store, plain, { os: 'linux', architecture: 'arm64' }, 'test'), 'NOT_FOUND');
    await expectCode(selectPlatform(store, index.desc, { os: 'windows' }, 'test'), 'NOT_FOUND');
  });
});
