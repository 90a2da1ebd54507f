import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/content/memory-store.js';
import { fetchBytes, type Content, type OperationOptions } from '../../src/content/store.js';
import { copy, copyGraph } from '../../src/copy/copy.js';
import { isStowageError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';

function blob(bytes: Uint8Array, mediaType: string = MediaType.ociLayer): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
}

function manifestBytes(config: Descriptor, layers: Descriptor[]): { desc: Descriptor; bytes: Uint8Array } {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers }));
  return { desc: blob(bytes, MediaType.ociManifest), bytes };
}

/** A source graph: one manifest, its config and `layerCount` random layers, tagged `v1`. */
async function sourceGraph(layerCount: number): Promise<{ store: MemoryStore; root: Descriptor; layers: Descriptor[] }> {
  const store = new MemoryStore();
  const configBytes = Buffer.from('{}');
  const config = blob(configBytes, MediaType.ociEmpty);
  await store.push(config, configBytes);
  const layers: Descriptor[] = [];
  for (let i = 0; i < layerCount; i++) {
    const bytes = randomBytes(1000 + i);
    const desc = blob(bytes);
    await store.push(desc, bytes);
    layers.push(desc);
  }
  const { desc, bytes } = manifestBytes(config, layers);
  await store.push(desc, bytes);
  await store.tag(desc, 'v1');
  return { store, root: desc, layers };
}

/** A MemoryStore that records pushes and how many ran at once, and can fail or slow some. */
class InstrumentedStore extends MemoryStore {
  pushed: string[] = [];
  running = 0;
  maxRunning = 0;
  failOn: string | undefined;

  override async push(desc: Descriptor, content: Content, options?: OperationOptions): Promise<void> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (desc.digest === this.failOn) throw new Error('injected failure');
      await super.push(desc, content, options);
      this.pushed.push(desc.digest);
    } finally {
      this.running--;
    }
  }
}

/** A MemoryStore that is told what is coming (a Preparer) and records it, with what was pushed by then. */
class PreparedStore extends MemoryStore {
  prepared: { descs: string[]; pushedBefore: number }[] = [];
  pushes = 0;

  prepareFor(descs: readonly Descriptor[]): void {
    this.prepared.push({ descs: descs.map((desc) => desc.digest), pushedBefore: this.pushes });
  }

  override async push(desc: Descriptor, content: Content, options?: OperationOptions): Promise<void> {
    this.pushes++;
    await super.push(desc, content, options);
  }
}

describe('copy', () => {
  it('takes the root manifest from rootContent when given (verified), without fetching it', async () => {
    const { store: src, root } = await sourceGraph(1);
    const bytes = await fetchBytes(src, root);
    const fetched: string[] = [];
    const counting = Object.assign(Object.create(src) as MemoryStore, {
      fetch: (desc: Descriptor, options?: OperationOptions) => {
        fetched.push(desc.digest);
        return src.fetch(desc, options);
      },
    });
    await copyGraph(counting, new MemoryStore(), root, { rootContent: bytes });
    expect(fetched).not.toContain(root.digest);
    expect(fetched).toHaveLength(2);
    // The same size, one byte changed: a digest mismatch (content of another size is a SIZE_MISMATCH).
    const other = Buffer.from(bytes);
    other[other.length - 1] = 0x20;
    await expect(copyGraph(src, new MemoryStore(), root, { rootContent: other })).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
  });

  it('tells a destination that prepares what a manifest points to, before any of it is pushed', async () => {
    const { store: src, root, layers } = await sourceGraph(2);
    const dst = new PreparedStore();
    await copy(src, 'v1', dst, 'v2');
    const parsed = JSON.parse(Buffer.from(await fetchBytes(src, root)).toString('utf8')) as { config: Descriptor };
    expect(dst.prepared).toHaveLength(1);
    expect(dst.prepared[0]?.pushedBefore).toBe(0);
    expect(new Set(dst.prepared[0]?.descs)).toEqual(new Set([parsed.config.digest, ...layers.map((layer) => layer.digest)]));
  });

  it('copies a manifest and its blobs, children first, and tags the root', async () => {
    const { store: src, root, layers } = await sourceGraph(3);
    const dst = new InstrumentedStore();
    const result = await copy(src, 'v1', dst, 'v2');
    expect(result).toEqual(root);
    expect((await dst.resolve('v2')).digest).toBe(root.digest);
    for (const layer of layers) expect(await dst.exists(layer)).toBe(true);
    // The manifest is pushed last, after every blob it points to.
    expect(dst.pushed.at(-1)).toBe(root.digest);
    expect(dst.pushed).toHaveLength(5);
  });

  it('skips blobs the destination already has and reports them', async () => {
    const { store: src, layers } = await sourceGraph(3);
    const dst = new InstrumentedStore();
    const first = layers[0]!;
    await dst.push(first, await src.fetch(first));
    dst.pushed = [];
    const skipped: string[] = [];
    await copy(src, 'v1', dst, 'v1', { onSkipped: (desc) => skipped.push(desc.digest) });
    expect(skipped).toEqual([first.digest]);
    expect(dst.pushed).not.toContain(first.digest);
    expect(dst.pushed).toHaveLength(4);
  });

  it('does nothing but tag when the destination has the root', async () => {
    const { store: src, root } = await sourceGraph(2);
    const dst = new InstrumentedStore();
    await copy(src, 'v1', dst, 'v1');
    dst.pushed = [];
    await copy(src, 'v1', dst, 'again');
    expect(dst.pushed).toEqual([]);
    expect((await dst.resolve('again')).digest).toBe(root.digest);
  });

  it('never runs more transfers at once than the concurrency', async () => {
    const { store: src } = await sourceGraph(12);
    const dst = new InstrumentedStore();
    await copy(src, 'v1', dst, 'v1', { concurrency: 3 });
    expect(dst.maxRunning).toBeLessThanOrEqual(3);
    expect(dst.maxRunning).toBeGreaterThan(1);
  });

  it('fails with the first error and does not push the manifest', async () => {
    const { store: src, root, layers } = await sourceGraph(4);
    const dst = new InstrumentedStore();
    dst.failOn = layers[2]!.digest;
    await expect(copy(src, 'v1', dst, 'v1')).rejects.toThrow('injected failure');
    expect(await dst.exists(root)).toBe(false);
    await expect(dst.resolve('v1')).rejects.toSatisfy((error) => isStowageError(error, 'NOT_FOUND'));
  });

  it('stops with ABORTED when the signal fires', async () => {
    const { store: src, root } = await sourceGraph(6);
    const dst = new InstrumentedStore();
    const controller = new AbortController();
    const promise = copy(src, 'v1', dst, 'v1', { signal: controller.signal, concurrency: 1 });
    setTimeout(() => { controller.abort(); }, 8);
    await expect(promise).rejects.toSatisfy((error) => isStowageError(error, 'ABORTED'));
    expect(await dst.exists(root)).toBe(false);
  });

  it('copies a blob shared by two manifests of an index once', async () => {
    const src = new MemoryStore();
    const shared = randomBytes(512);
    const sharedDesc = blob(shared);
    await src.push(sharedDesc, shared);
    const configBytes = Buffer.from('{}');
    const config = blob(configBytes, MediaType.ociEmpty);
    await src.push(config, configBytes);
    const children: Descriptor[] = [];
    for (const extra of [randomBytes(10), randomBytes(11)]) {
      const extraDesc = blob(extra);
      await src.push(extraDesc, extra);
      const { desc, bytes } = manifestBytes(config, [sharedDesc, extraDesc]);
      await src.push(desc, bytes);
      children.push(desc);
    }
    const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: children }));
    const index = blob(indexBytes, MediaType.ociIndex);
    await src.push(index, indexBytes);
    await src.tag(index, 'multi');
    const dst = new InstrumentedStore();
    await copy(src, 'multi', dst, 'multi');
    expect(dst.pushed.filter((digest) => digest === sharedDesc.digest)).toHaveLength(1);
    expect(dst.pushed.at(-1)).toBe(index.digest);
    for (const child of children) expect(await dst.exists(child)).toBe(true);
  });

  it('descends only into the successors the caller picks', async () => {
    const { store: src, layers } = await sourceGraph(3);
    const dst = new InstrumentedStore();
    const keep = layers[1]!;
    await copy(src, 'v1', dst, 'v1', {
      successors: (_node, parsed) => (parsed.kind === 'manifest' ? parsed.manifest.layers.filter((layer) => layer.digest === keep.digest) : []),
    });
    expect(await dst.exists(keep)).toBe(true);
    expect(await dst.exists(layers[0]!)).toBe(false);
  });

  it('applies extra tags, and no tag for a digest destination', async () => {
    const { store: src, root } = await sourceGraph(1);
    const dst = new InstrumentedStore();
    await copy(src, 'v1', dst, 'a', { extraTags: ['b', 'a'] });
    expect((await dst.resolve('a')).digest).toBe(root.digest);
    expect((await dst.resolve('b')).digest).toBe(root.digest);
    const other = new InstrumentedStore();
    await copy(src, root.digest, other, root.digest);
    expect(await other.exists(root)).toBe(true);
    await expect(other.resolve('v1')).rejects.toSatisfy((error) => isStowageError(error, 'NOT_FOUND'));
  });

  it('reports progress up to the size of each blob', async () => {
    const { store: src, layers } = await sourceGraph(2);
    const dst = new InstrumentedStore();
    const last = new Map<string, number>();
    const done: string[] = [];
    await copy(src, 'v1', dst, 'v1', {
      onProgress: (desc, transferred) => last.set(desc.digest, transferred),
      onDone: (desc) => done.push(desc.digest),
    });
    for (const layer of layers) {
      expect(last.get(layer.digest)).toBe(layer.size);
      expect(done).toContain(layer.digest);
    }
  });
});
