/**
 * The store contract: tests every {@link Target} must pass (memory, OCI layout, a registry repository).
 * Every test opens a fresh store and pushes random content, so a store that is shared or not empty (a
 * registry) passes too. Optional capabilities are tested only when the store has them (type guards).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isDeleter, isPredecessorFinder, isTagLister, type Target } from '../../src/content/store.js';
import { isStowageError, type ErrorCode } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';

/** A store under test and how to dispose of it. */
export interface OpenedStore {
  store: Target;
  cleanup?: () => Promise<void>;
}

/** Content and its descriptor. */
export interface Blob {
  desc: Descriptor;
  bytes: Buffer;
}

/** A descriptor for `bytes`. */
export function describeBytes(bytes: Uint8Array, mediaType: string): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
}

/** Random content of `size` bytes. */
export function randomBlob(size: number, mediaType: string = MediaType.ociLayer): Blob {
  const bytes = randomBytes(size);
  return { desc: describeBytes(bytes, mediaType), bytes };
}

/** A random tag (unique enough for a shared repository). */
export function randomTag(prefix = 't'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** An OCI image config with a random field, so its digest is unique. */
export function randomConfig(): Blob {
  const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, 'io.stowage.test.nonce': randomBytes(8).toString('hex') };
  const bytes = Buffer.from(JSON.stringify(config));
  return { desc: describeBytes(bytes, MediaType.ociConfig), bytes };
}

/** An OCI image manifest document for `config` and `layers`. */
export function imageManifest(config: Descriptor, layers: Descriptor[], extra: Record<string, unknown> = {}): Blob {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers, ...extra }));
  return { desc: describeBytes(bytes, MediaType.ociManifest), bytes };
}

/** An OCI image index document for `manifests`. */
export function imageIndex(manifests: Descriptor[]): Blob {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  return { desc: describeBytes(bytes, MediaType.ociIndex), bytes };
}

/**
 * Pushes a linux/amd64 and a linux/arm64 image (configs with `os` and `architecture`; with `file`, one layer
 * titled `file` holding `built for <arch>\n`) and an index listing them with their platforms, tagged `tag`.
 * Returns the index and the two manifests, amd64 first.
 */
export async function pushPlatformIndex(store: Target, tag: string, file?: string): Promise<{ index: Blob; images: Descriptor[] }> {
  const images: Descriptor[] = [];
  for (const architecture of ['amd64', 'arm64']) {
    const config = Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const configDesc = describeBytes(config, MediaType.ociConfig);
    await store.push(configDesc, config);
    const layers: Descriptor[] = [];
    if (file !== undefined) {
      const bytes = Buffer.from(`built for ${architecture}\n`);
      const layer = { ...describeBytes(bytes, MediaType.ociLayer), annotations: { 'org.opencontainers.image.title': file } };
      await store.push(layer, bytes);
      layers.push(layer);
    }
    const manifest = imageManifest(configDesc, layers);
    await store.push(manifest.desc, manifest.bytes);
    images.push({ ...manifest.desc, platform: { architecture, os: 'linux' } });
  }
  const index = imageIndex(images);
  await store.push(index.desc, index.bytes);
  await store.tag(index.desc, tag);
  return { index, images };
}

/** Pushes a random config and layer, then an image manifest pointing to them. */
export async function pushImage(store: Target, extra: Record<string, unknown> = {}): Promise<{ manifest: Blob; config: Blob; layer: Blob }> {
  const config = randomConfig();
  const layer = randomBlob(1024 + Math.floor(Math.random() * 1024));
  await store.push(config.desc, config.bytes);
  await store.push(layer.desc, layer.bytes);
  const manifest = imageManifest(config.desc, [layer.desc], extra);
  await store.push(manifest.desc, manifest.bytes);
  return { manifest, config, layer };
}

/** Reads a stream (of bytes) to the end. */
export async function readStream(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    if (!Buffer.isBuffer(chunk)) throw new Error(`expected bytes from the stream, got ${typeof chunk}`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Fetches content into memory. */
export async function fetchAll(store: Target, desc: Descriptor): Promise<Buffer> {
  return readStream(await store.fetch(desc));
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the operation to fail'),
    (error: unknown) => error,
  );
}

/** Asserts that `promise` rejects with a StowageError carrying `code`. */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await rejection(promise);
  if (!isStowageError(error)) throw new Error(`expected a StowageError ${code}, got: ${String(error)}`, { cause: error });
  expect(error.code, error.message).toBe(code);
}

/** Registers the contract suite for a store. `open` gives a fresh store (or a fresh repository) each time. */
export function describeStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  async function withStore(run: (store: Target) => Promise<void>): Promise<void> {
    const { store, cleanup } = await open();
    try {
      await run(store);
    } finally {
      await cleanup?.();
    }
  }

  describe(`store contract: ${name}`, () => {
    it('pushes, checks and fetches a blob', () =>
      withStore(async (store) => {
        const blob = randomBlob(4096);
        expect(await store.exists(blob.desc)).toBe(false);
        await store.push(blob.desc, blob.bytes);
        expect(await store.exists(blob.desc)).toBe(true);
        expect((await fetchAll(store, blob.desc)).equals(blob.bytes)).toBe(true);
      }));

    it('pushes an image manifest after its blobs, and fetches and resolves it by digest', () =>
      withStore(async (store) => {
        const config = randomConfig();
        const layer = randomBlob(2048);
        await store.push(config.desc, config.bytes);
        await store.push(layer.desc, layer.bytes);
        const manifest = imageManifest(config.desc, [layer.desc]);
        expect(await store.exists(manifest.desc)).toBe(false);
        await store.push(manifest.desc, manifest.bytes);
        expect(await store.exists(manifest.desc)).toBe(true);
        expect((await fetchAll(store, manifest.desc)).equals(manifest.bytes)).toBe(true);
        expect((await fetchAll(store, config.desc)).equals(config.bytes)).toBe(true);
        expect((await fetchAll(store, layer.desc)).equals(layer.bytes)).toBe(true);
        expect(await store.resolve(manifest.desc.digest)).toMatchObject(manifest.desc);
      }));

    it('stores an empty blob', () =>
      withStore(async (store) => {
        const empty = { desc: describeBytes(new Uint8Array(0), MediaType.ociLayer), bytes: Buffer.alloc(0) };
        await store.push(empty.desc, empty.bytes);
        expect(await store.exists(empty.desc)).toBe(true);
        expect((await fetchAll(store, empty.desc)).byteLength).toBe(0);
      }));

    it('refuses content with another digest (DIGEST_MISMATCH) and stores nothing', () =>
      withStore(async (store) => {
        const blob = randomBlob(3000);
        const claimed: Descriptor = { ...blob.desc, digest: digestOf(randomBytes(3000)) };
        await expectCode(store.push(claimed, blob.bytes), 'DIGEST_MISMATCH');
        await expectCode(store.push(claimed, Readable.from([blob.bytes.subarray(0, 1000), blob.bytes.subarray(1000)])), 'DIGEST_MISMATCH');
        expect(await store.exists(claimed)).toBe(false);
        expect(await store.exists(blob.desc)).toBe(false);
        await expectCode(store.fetch(claimed), 'NOT_FOUND');
      }));

    it('refuses content longer or shorter than its descriptor (SIZE_MISMATCH) and stores nothing', () =>
      withStore(async (store) => {
        const blob = randomBlob(3000);
        const tooLong: Descriptor = { ...blob.desc, size: blob.desc.size - 1 };
        const tooShort: Descriptor = { ...blob.desc, size: blob.desc.size + 1 };
        await expectCode(store.push(tooLong, blob.bytes), 'SIZE_MISMATCH');
        await expectCode(store.push(tooShort, blob.bytes), 'SIZE_MISMATCH');
        await expectCode(store.push(tooLong, Readable.from([blob.bytes])), 'SIZE_MISMATCH');
        await expectCode(store.push(tooShort, Readable.from([blob.bytes])), 'SIZE_MISMATCH');
        expect(await store.exists(blob.desc)).toBe(false);
        expect(await store.exists(tooLong)).toBe(false);
        expect(await store.exists(tooShort)).toBe(false);
      }));

    it('fails to fetch missing content with NOT_FOUND', () =>
      withStore(async (store) => {
        const blob = randomBlob(100);
        await expectCode(store.fetch(blob.desc), 'NOT_FOUND');
        const manifest = imageManifest(randomConfig().desc, [blob.desc]);
        expect(await store.exists(manifest.desc)).toBe(false);
        await expectCode(store.fetch(manifest.desc), 'NOT_FOUND');
      }));

    it('checks the size of the descriptor it fetches by', () =>
      withStore(async (store) => {
        const blob = randomBlob(5000);
        await store.push(blob.desc, blob.bytes);
        // The store may refuse at once or fail the stream; either way the bytes are not accepted.
        const error = await rejection(store.fetch({ ...blob.desc, size: blob.desc.size + 1 }).then(readStream));
        expect(isStowageError(error, 'SIZE_MISMATCH')).toBe(true);
      }));

    it('resolves a tag and a digest', () =>
      withStore(async (store) => {
        const { manifest } = await pushImage(store);
        const tag = randomTag();
        await store.tag(manifest.desc, tag);
        expect(await store.resolve(tag)).toMatchObject(manifest.desc);
        expect(await store.resolve(manifest.desc.digest)).toMatchObject(manifest.desc);
      }));

    it('moves a tag to another manifest', () =>
      withStore(async (store) => {
        const first = await pushImage(store);
        const second = await pushImage(store);
        const tag = randomTag();
        await store.tag(first.manifest.desc, tag);
        expect((await store.resolve(tag)).digest).toBe(first.manifest.desc.digest);
        await store.tag(second.manifest.desc, tag);
        expect((await store.resolve(tag)).digest).toBe(second.manifest.desc.digest);
        // The manifest that lost the tag is still there by digest.
        expect(await store.resolve(first.manifest.desc.digest)).toMatchObject(first.manifest.desc);
        expect(await store.exists(first.manifest.desc)).toBe(true);
      }));

    it('fails to resolve a missing tag or digest with NOT_FOUND', () =>
      withStore(async (store) => {
        await expectCode(store.resolve(randomTag('missing')), 'NOT_FOUND');
        await expectCode(store.resolve(digestOf(randomBytes(32))), 'NOT_FOUND');
      }));

    it('refuses invalid tag names with INVALID_REFERENCE', () =>
      withStore(async (store) => {
        const { manifest } = await pushImage(store);
        for (const bad of ['has space', '-leading-dash', '.leading-dot', 'a'.repeat(129), 'slash/tag', '']) {
          await expectCode(store.tag(manifest.desc, bad), 'INVALID_REFERENCE');
        }
      }));

    it('refuses to tag a manifest it does not have with NOT_FOUND', () =>
      withStore(async (store) => {
        const manifest = imageManifest(randomConfig().desc, [randomBlob(10).desc]);
        await expectCode(store.tag(manifest.desc, randomTag()), 'NOT_FOUND');
      }));

    it('accepts the same blob and manifest twice', () =>
      withStore(async (store) => {
        const blob = randomBlob(2000);
        await store.push(blob.desc, blob.bytes);
        await store.push(blob.desc, Readable.from([blob.bytes]));
        expect((await fetchAll(store, blob.desc)).equals(blob.bytes)).toBe(true);
        const { manifest } = await pushImage(store);
        await store.push(manifest.desc, manifest.bytes);
        expect((await fetchAll(store, manifest.desc)).equals(manifest.bytes)).toBe(true);
      }));

    it('streams a 5 MiB blob in and out', () =>
      withStore(async (store) => {
        const chunks = Array.from({ length: 80 }, () => randomBytes(64 * 1024));
        const whole = Buffer.concat(chunks);
        const desc = describeBytes(whole, MediaType.ociLayerGzip);
        await store.push(desc, Readable.from(chunks, { objectMode: false }));
        expect(await store.exists(desc)).toBe(true);
        const hash = createHash('sha256');
        let size = 0;
        const fetched: AsyncIterable<unknown> = await store.fetch(desc);
        for await (const chunk of fetched) {
          if (!Buffer.isBuffer(chunk)) throw new Error('expected bytes from the stream');
          hash.update(chunk);
          size += chunk.byteLength;
        }
        expect(size).toBe(5 * 1024 * 1024);
        expect(`sha256:${hash.digest('hex')}`).toBe(desc.digest);
      }));

    it('stops an aborted push with ABORTED and stores nothing', () =>
      withStore(async (store) => {
        const first = randomBytes(64 * 1024);
        const desc = describeBytes(Buffer.concat([first, randomBytes(64 * 1024)]), MediaType.ociLayer);
        const controller = new AbortController();
        // Yields half the content and then stalls: only the signal can end the push.
        const stalled = new Readable({ read() { /* pushed below */ } });
        stalled.push(first);
        const push = store.push(desc, stalled, { signal: controller.signal });
        setTimeout(() => {
          controller.abort();
        }, 50);
        await expectCode(push, 'ABORTED');
        expect(await store.exists(desc)).toBe(false);
      }));

    it('stores an index pointing to two manifests', () =>
      withStore(async (store) => {
        const amd64 = await pushImage(store);
        const arm64 = await pushImage(store);
        const index = imageIndex([
          { ...amd64.manifest.desc, platform: { architecture: 'amd64', os: 'linux' } },
          { ...arm64.manifest.desc, platform: { architecture: 'arm64', os: 'linux' } },
        ]);
        await store.push(index.desc, index.bytes);
        expect(await store.exists(index.desc)).toBe(true);
        expect((await fetchAll(store, index.desc)).equals(index.bytes)).toBe(true);
        expect(await store.resolve(index.desc.digest)).toMatchObject(index.desc);
        const tag = randomTag('multi');
        await store.tag(index.desc, tag);
        expect(await store.resolve(tag)).toMatchObject(index.desc);

        if (isPredecessorFinder(store)) {
          const ofManifest = await store.predecessors(amd64.manifest.desc);
          expect(ofManifest.map((desc) => desc.digest)).toEqual([index.desc.digest]);
          const ofLayer = await store.predecessors(arm64.layer.desc);
          expect(ofLayer.map((desc) => desc.digest)).toEqual([arm64.manifest.desc.digest]);
        }
        if (isTagLister(store)) {
          const tags: string[] = [];
          for await (const page of store.tags()) tags.push(...page);
          expect(tags).toContain(tag);
        }
      }));

    it('lists tags in order and after `last` (when it lists tags)', () =>
      withStore(async (store) => {
        if (!isTagLister(store)) return;
        const { manifest } = await pushImage(store);
        const prefix = randomTag('list');
        const names = [`${prefix}-b`, `${prefix}-a`, `${prefix}-c`];
        for (const name of names) await store.tag(manifest.desc, name);
        const all: string[] = [];
        for await (const page of store.tags()) all.push(...page);
        expect(all.filter((tag) => tag.startsWith(prefix))).toEqual([...names].sort());
        expect(all).toEqual([...all].sort());
        const after: string[] = [];
        for await (const page of store.tags({ last: `${prefix}-a` })) after.push(...page);
        expect(after).not.toContain(`${prefix}-a`);
        expect(after).toContain(`${prefix}-b`);
        expect(after).toContain(`${prefix}-c`);
        expect(after.every((tag) => tag > `${prefix}-a`)).toBe(true);
      }));

    it('deletes a manifest (when it deletes)', () =>
      withStore(async (store) => {
        if (!isDeleter(store)) return;
        const { manifest, layer } = await pushImage(store);
        const tag = randomTag();
        await store.tag(manifest.desc, tag);
        try {
          await store.delete(manifest.desc);
        } catch (error) {
          // A registry may have deletes switched off.
          if (isStowageError(error, 'UNSUPPORTED')) return;
          throw error;
        }
        expect(await store.exists(manifest.desc)).toBe(false);
        await expectCode(store.resolve(manifest.desc.digest), 'NOT_FOUND');
        await expectCode(store.resolve(tag), 'NOT_FOUND');
        await expectCode(store.fetch(manifest.desc), 'NOT_FOUND');
        expect(await store.exists(layer.desc)).toBe(true);
        await store.delete(layer.desc);
        expect(await store.exists(layer.desc)).toBe(false);
      }));
  });
}
