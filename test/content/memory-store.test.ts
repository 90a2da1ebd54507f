import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory-store.js';
import { MediaType } from '../../src/oci/media-types.js';
import {
  describeBytes,
  describeStoreContract,
  expectCode,
  fetchAll,
  imageManifest,
  pushImage,
  randomBlob,
  randomConfig,
} from '../helpers/store-contract.js';

describeStoreContract('MemoryStore', () => Promise.resolve({ store: new MemoryStore() }));

describe('MemoryStore', () => {
  it('finds referrers and artifact manifests among the predecessors', async () => {
    const store = new MemoryStore();
    const subject = await pushImage(store);
    const signature = randomBlob(100, 'application/vnd.example.signature');
    await store.push(signature.desc, signature.bytes);
    const referrer = imageManifest(randomConfig().desc, [signature.desc], { subject: subject.manifest.desc });
    await store.push(referrer.desc, referrer.bytes);
    const artifactBytes = Buffer.from(
      JSON.stringify({ mediaType: MediaType.ociArtifactManifest, artifactType: 'application/vnd.example', blobs: [signature.desc], subject: subject.manifest.desc }),
    );
    const artifact = describeBytes(artifactBytes, MediaType.ociArtifactManifest);
    await store.push(artifact, artifactBytes);

    const ofSubject = (await store.predecessors(subject.manifest.desc)).map((desc) => desc.digest).sort();
    expect(ofSubject).toEqual([referrer.desc.digest, artifact.digest].sort());
    const ofSignature = (await store.predecessors(signature.desc)).map((desc) => desc.digest).sort();
    expect(ofSignature).toEqual([referrer.desc.digest, artifact.digest].sort());
    expect(await store.predecessors(referrer.desc)).toEqual([]);
  });

  it('refuses a manifest that does not parse, and stores nothing', async () => {
    const store = new MemoryStore();
    const garbage = Buffer.from('{"schemaVersion": 2, "layers": "nope"}');
    const desc = describeBytes(garbage, MediaType.ociManifest);
    await expectCode(store.push(desc, garbage), 'INVALID_MANIFEST');
    expect(await store.exists(desc)).toBe(false);
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
    const mislabelled = describeBytes(index, MediaType.ociManifest);
    await expectCode(store.push(mislabelled, index), 'INVALID_MANIFEST');
    expect(await store.exists(mislabelled)).toBe(false);
  });

  it('keeps its own copy of pushed bytes', async () => {
    const store = new MemoryStore();
    const blob = randomBlob(64);
    const original = Buffer.from(blob.bytes);
    await store.push(blob.desc, blob.bytes);
    blob.bytes.fill(0);
    expect((await fetchAll(store, blob.desc)).equals(original)).toBe(true);
  });

  it('resolves untagged manifests by digest and accepts a tag by the own digest', async () => {
    const store = new MemoryStore();
    const { manifest, layer } = await pushImage(store);
    expect(await store.resolve(manifest.desc.digest)).toEqual(manifest.desc);
    await store.tag(manifest.desc, manifest.desc.digest);
    await expectCode(store.resolve(layer.desc.digest), 'NOT_FOUND');
    const tags: string[] = [];
    for await (const page of store.tags()) tags.push(...page);
    expect(tags).toEqual([]);
  });

  it('deletes a manifest with its tags and graph edges; deleting twice is NOT_FOUND', async () => {
    const store = new MemoryStore();
    const { manifest, layer } = await pushImage(store);
    await store.tag(manifest.desc, 'v1');
    await store.tag(manifest.desc, 'v2');
    expect(await store.predecessors(layer.desc)).toHaveLength(1);
    await store.delete(manifest.desc);
    await expectCode(store.resolve('v1'), 'NOT_FOUND');
    await expectCode(store.resolve('v2'), 'NOT_FOUND');
    expect(await store.predecessors(layer.desc)).toEqual([]);
    await expectCode(store.delete(manifest.desc), 'NOT_FOUND');
  });

  it('fails with ABORTED when the signal has already fired', async () => {
    const store = new MemoryStore();
    const blob = randomBlob(10);
    const controller = new AbortController();
    controller.abort();
    await expectCode(store.push(blob.desc, blob.bytes, { signal: controller.signal }), 'ABORTED');
    expect(await store.exists(blob.desc)).toBe(false);
  });

  it('refuses a malformed digest with INVALID_DIGEST', async () => {
    const store = new MemoryStore();
    const bytes = randomBytes(8);
    await expectCode(store.push({ mediaType: MediaType.ociLayer, digest: 'sha256:abc', size: 8 }, bytes), 'INVALID_DIGEST');
    await expectCode(store.fetch({ mediaType: MediaType.ociLayer, digest: 'md5:abc', size: 8 }), 'INVALID_DIGEST');
  });
});
