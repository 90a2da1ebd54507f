import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OciLayoutStore } from '../../src/content/oci-layout-store.js';
import { fetchBytes } from '../../src/content/store.js';
import { digestOf } from '../../src/oci/digest.js';
import { Annotation, emptyDescriptor, emptyJson, MediaType } from '../../src/oci/media-types.js';
import { descriptorSchema, parseManifest, type Descriptor } from '../../src/oci/schemas.js';
import {
  describeBytes,
  describeStoreContract,
  expectCode,
  fetchAll,
  imageIndex,
  imageManifest,
  pushImage,
  randomBlob,
  randomConfig,
  readStream,
} from '../helpers/store-contract.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** index.json as the tests read it back from disk. */
const indexFileSchema = z.object({
  schemaVersion: z.literal(2),
  // skopeo 1.9 leaves it out.
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
});

async function readIndexFile(dir: string): Promise<z.infer<typeof indexFileSchema>> {
  return indexFileSchema.parse(JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')));
}

async function ingestFiles(dir: string): Promise<string[]> {
  try {
    return await readdir(path.join(dir, 'ingest'));
  } catch {
    return [];
  }
}

/** A temp directory removed after `body`, with the layout path inside it (not created). */
async function withTempDir(body: (root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'stowage-layout-'));
  try {
    await body(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function refNames(manifests: Descriptor[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const entry of manifests) {
    const name = entry.annotations?.[Annotation.refName];
    if (name !== undefined) tags[name] = entry.digest;
  }
  return tags;
}

function blobFile(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return path.join(dir, 'blobs', algorithm!, hex!);
}

describeStoreContract('OciLayoutStore', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'stowage-layout-contract-'));
  const dir = path.join(root, 'layout');
  const store = await OciLayoutStore.open(dir, { create: true });
  return {
    store,
    cleanup: async () => {
      // Whatever the test did (failed, aborted, mismatched pushes), nothing is left half-written.
      const leftovers = await ingestFiles(dir);
      const lock = existsSync(path.join(dir, 'index.json.lock'));
      await rm(root, { recursive: true, force: true });
      expect(leftovers).toEqual([]);
      expect(lock).toBe(false);
    },
  };
});

describe('OciLayoutStore', () => {
  it('writes oci-layout, index.json and blobs/ in the shape of the image layout spec', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'new', 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const tagged = await pushImage(store);
      const untagged = await pushImage(store);
      await store.tag(tagged.manifest.desc, 'v1');

      expect(JSON.parse(await readFile(path.join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
      const index = await readIndexFile(dir);
      expect(index.mediaType).toBe(MediaType.ociIndex);
      expect(index.manifests).toHaveLength(2);
      expect(index.manifests).toContainEqual({ ...tagged.manifest.desc, annotations: { [Annotation.refName]: 'v1' } });
      expect(index.manifests).toContainEqual(untagged.manifest.desc);
      for (const blob of [tagged.config, tagged.layer, tagged.manifest, untagged.manifest]) {
        const file = blobFile(dir, blob.desc.digest);
        expect((await readFile(file)).equals(blob.bytes)).toBe(true);
        // Read-only, like ORAS: content-addressed files are never edited in place.
        expect((await stat(file)).mode & 0o777).toBe(0o444);
      }
      expect((await readdir(dir)).sort()).toEqual(['blobs', 'index.json', 'ingest', 'oci-layout']);
      expect(await readdir(path.join(dir, 'blobs'))).toEqual(['sha256']);
      expect(await ingestFiles(dir)).toEqual([]);
    }));

  it('moves a tag and keeps the manifest that lost it listed without a tag', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const first = await pushImage(store);
      const second = await pushImage(store);
      await store.tag(first.manifest.desc, 'latest');
      await store.tag(first.manifest.desc, 'v1');
      await store.tag(second.manifest.desc, 'latest');
      let index = await readIndexFile(dir);
      expect(refNames(index.manifests)).toEqual({ latest: second.manifest.desc.digest, v1: first.manifest.desc.digest });
      expect(index.manifests).toHaveLength(2);

      await store.tag(second.manifest.desc, 'v1');
      index = await readIndexFile(dir);
      expect(refNames(index.manifests)).toEqual({ latest: second.manifest.desc.digest, v1: second.manifest.desc.digest });
      // The first manifest lost both tags and is listed once, untagged, so it can still be found.
      expect(index.manifests.filter((entry) => entry.digest === first.manifest.desc.digest)).toEqual([first.manifest.desc]);
      expect(await store.resolve(first.manifest.desc.digest)).toEqual(first.manifest.desc);
      const tags: string[] = [];
      for await (const page of store.tags()) tags.push(...page);
      expect(tags).toEqual(['latest', 'v1']);
    }));

  it('leaves no temp file and no blob after a push that fails verification', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const chunks = Array.from({ length: 3 }, () => randomBytes(1024 * 1024));
      const claimed: Descriptor = { mediaType: MediaType.ociLayer, digest: digestOf(randomBytes(16)), size: 3 * 1024 * 1024 };
      await expectCode(store.push(claimed, Readable.from(chunks, { objectMode: false })), 'DIGEST_MISMATCH');
      expect(await ingestFiles(dir)).toEqual([]);
      expect(existsSync(blobFile(dir, claimed.digest))).toBe(false);
      const real = describeBytes(Buffer.concat(chunks), MediaType.ociLayer);
      expect(existsSync(blobFile(dir, real.digest))).toBe(false);
    }));

  it('leaves no temp file after a push cancelled half-way', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const half = randomBytes(2 * 1024 * 1024);
      const desc = describeBytes(Buffer.concat([half, randomBytes(2 * 1024 * 1024)]), MediaType.ociLayer);
      const stalled = new Readable({ read() { /* the rest never comes */ } });
      stalled.push(half);
      const controller = new AbortController();
      const push = store.push(desc, stalled, { signal: controller.signal });
      // Wait until the first half is on disk in ingest/, so the cancel has a temp file to clean up.
      for (let i = 0; i < 200 && (await ingestFiles(dir)).length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await ingestFiles(dir)).toHaveLength(1);
      controller.abort();
      await expectCode(push, 'ABORTED');
      expect(await ingestFiles(dir)).toEqual([]);
      expect(stalled.destroyed).toBe(true);
      expect(await store.exists(desc)).toBe(false);
    }));

  it('sees the tags again when reopened', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const first = await OciLayoutStore.open(dir, { create: true });
      const { manifest, layer } = await pushImage(first);
      await first.tag(manifest.desc, 'v1');
      const reopened = await OciLayoutStore.open(dir);
      expect(await reopened.resolve('v1')).toEqual(manifest.desc);
      expect((await fetchAll(reopened, layer.desc)).equals(layer.bytes)).toBe(true);
      const tags: string[] = [];
      for await (const page of reopened.tags()) tags.push(...page);
      expect(tags).toEqual(['v1']);
    }));

  it('refuses what is not an OCI layout', () =>
    withTempDir(async (root) => {
      await expectCode(OciLayoutStore.open(path.join(root, 'missing')), 'NOT_FOUND');
      await writeFile(path.join(root, 'file'), 'x');
      await expectCode(OciLayoutStore.open(path.join(root, 'file'), { create: true }), 'INVALID_LAYOUT');

      const plain = path.join(root, 'plain');
      await mkdir(plain);
      await expectCode(OciLayoutStore.open(plain), 'INVALID_LAYOUT');
      // With create, an existing empty directory becomes a layout.
      await OciLayoutStore.open(plain, { create: true });
      expect(JSON.parse(await readFile(path.join(plain, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });

      const garbage = path.join(root, 'garbage');
      await OciLayoutStore.open(garbage, { create: true });
      await writeFile(path.join(garbage, 'index.json'), 'this is not json');
      await expectCode(OciLayoutStore.open(garbage), 'INVALID_LAYOUT');
      await writeFile(path.join(garbage, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ digest: 'nope' }] }));
      await expectCode(OciLayoutStore.open(garbage), 'INVALID_LAYOUT');
      await rm(path.join(garbage, 'index.json'));
      await expectCode(OciLayoutStore.open(garbage), 'INVALID_LAYOUT');

      const badLayout = path.join(root, 'bad-layout');
      await OciLayoutStore.open(badLayout, { create: true });
      await writeFile(path.join(badLayout, 'oci-layout'), '{"imageLayoutVersion": 1}');
      await expectCode(OciLayoutStore.open(badLayout), 'INVALID_LAYOUT');
      await writeFile(path.join(badLayout, 'oci-layout'), '{"imageLayoutVersion": "2.0.0"}');
      await expectCode(OciLayoutStore.open(badLayout, { create: true }), 'INVALID_LAYOUT');
    }));

  it('reports an index.json broken after opening as INVALID_LAYOUT', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const { manifest } = await pushImage(store);
      await writeFile(path.join(dir, 'index.json'), '{"schemaVersion": 2, "manifests": {}}');
      await expectCode(store.resolve('v1'), 'INVALID_LAYOUT');
      await expectCode(store.tag(manifest.desc, 'v1'), 'INVALID_LAYOUT');
      expect(await ingestFiles(dir)).toEqual([]);
      expect(existsSync(path.join(dir, 'index.json.lock'))).toBe(false);
    }));

  it('keeps every entry when separate store instances push and tag at once', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      // Ten instances also race to create the layout itself.
      const results = await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const store = await OciLayoutStore.open(dir, { create: true });
          const { manifest } = await pushImage(store);
          await store.tag(manifest.desc, `v${i}`);
          return manifest.desc;
        }),
      );
      const index = await readIndexFile(dir);
      expect(refNames(index.manifests)).toEqual(Object.fromEntries(results.map((desc, i) => [`v${i}`, desc.digest])));
      expect(index.manifests).toHaveLength(10);
      expect(await ingestFiles(dir)).toEqual([]);
      expect(existsSync(path.join(dir, 'index.json.lock'))).toBe(false);
    }));

  it('keeps every entry when several processes push and tag at once', { timeout: 60_000 }, () =>
    withTempDir(async (root) => {
      // Node 20 cannot import .ts, and dist/ may be stale or mid-build by others: transpile the store and
      // what it imports into the temp directory, resolving packages through a node_modules link.
      const lib = path.join(root, 'lib');
      await transpileTree(path.join(repoRoot, 'src/content/oci-layout-store.ts'), lib);
      await symlink(path.join(repoRoot, 'node_modules'), path.join(lib, 'node_modules'), 'dir');
      const script = path.join(lib, 'child.mjs');
      await writeFile(script, childScript);
      const dir = path.join(root, 'layout');
      const processes = 4;
      const perProcess = 6;
      const outputs = await Promise.all(
        Array.from({ length: processes }, (_, p) => run(process.execPath, [script, dir, String(p), String(perProcess)], { timeout: 50_000 })),
      );
      const expected: Record<string, string> = {};
      for (const { stdout } of outputs) {
        const pushed = z.array(z.object({ tag: z.string(), digest: z.string() })).parse(JSON.parse(stdout));
        for (const { tag, digest } of pushed) expected[tag] = digest;
      }
      expect(Object.keys(expected)).toHaveLength(processes * perProcess);
      const index = await readIndexFile(dir);
      expect(refNames(index.manifests)).toEqual(expected);
      expect(index.manifests).toHaveLength(processes * perProcess);
      expect(await ingestFiles(dir)).toEqual([]);
      expect(existsSync(path.join(dir, 'index.json.lock'))).toBe(false);
    }));

  it('takes over a stale lock, waits for a live one, and stops waiting when cancelled', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const lock = path.join(dir, 'index.json.lock');
      const store = await OciLayoutStore.open(dir, { create: true, staleLockMs: 300 });
      const { manifest } = await pushImage(store);

      // A lock left by a process that died a minute ago.
      await writeFile(lock, '{"pid": 999999}');
      const aMinuteAgo = new Date(Date.now() - 60_000);
      await utimes(lock, aMinuteAgo, aMinuteAgo);
      await store.tag(manifest.desc, 'stale');
      expect(existsSync(lock)).toBe(false);

      // A live lock: the tag waits for it.
      await writeFile(lock, '{"pid": 1}');
      const started = Date.now();
      const tagging = store.tag(manifest.desc, 'waited');
      await new Promise((resolve) => setTimeout(resolve, 100));
      await rm(lock);
      await tagging;
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);

      // Cancelled while waiting.
      await writeFile(lock, '{"pid": 1}');
      const patient = await OciLayoutStore.open(dir, { staleLockMs: 60_000 });
      const controller = new AbortController();
      const waiting = patient.tag(manifest.desc, 'never');
      const cancelled = patient.tag(manifest.desc, 'cancelled', { signal: controller.signal });
      setTimeout(() => {
        controller.abort();
      }, 50);
      await expectCode(cancelled, 'ABORTED');
      await rm(lock);
      await waiting;
      expect(refNames((await readIndexFile(dir)).manifests)).toEqual({
        stale: manifest.desc.digest,
        waited: manifest.desc.digest,
        never: manifest.desc.digest,
      });
    }));

  it('fails a fetch of a corrupted blob with DIGEST_MISMATCH', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const blob = randomBlob(3 * 1024 * 1024);
      await store.push(blob.desc, blob.bytes);
      const file = blobFile(dir, blob.desc.digest);
      await chmod(file, 0o644);
      await writeFile(file, Buffer.concat([blob.bytes.subarray(0, blob.bytes.byteLength - 1), Buffer.from([blob.bytes.at(-1)! ^ 1])]));
      await expectCode(fetchAll(store, blob.desc), 'DIGEST_MISMATCH');
      await writeFile(file, blob.bytes.subarray(1));
      await expectCode(store.fetch(blob.desc), 'SIZE_MISMATCH');
      expect(await store.exists(blob.desc)).toBe(false);
    }));

  it('resolves by digest a manifest blob that index.json does not list', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const config = randomConfig();
      await store.push(config.desc, config.bytes);
      const manifest = imageManifest(config.desc, []);
      // Pushed as a plain blob, so not listed (as a child written by another tool would be).
      await store.push({ ...manifest.desc, mediaType: 'application/octet-stream' }, manifest.bytes);
      expect((await readIndexFile(dir)).manifests).toEqual([]);
      expect(await store.resolve(manifest.desc.digest)).toEqual(manifest.desc);
      await expectCode(store.resolve(config.desc.digest), 'NOT_FOUND');
    }));

  it('finds predecessors through index.json, indexes and subjects', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const image = await pushImage(store);
      const other = await pushImage(store);
      const index = imageIndex([image.manifest.desc, other.manifest.desc]);
      await store.push(index.desc, index.bytes);
      await store.tag(index.desc, 'multi');
      await store.push(emptyDescriptor, emptyJson);
      const signature = randomBlob(64, 'application/vnd.example.signature');
      await store.push(signature.desc, signature.bytes);
      const referrer = imageManifest(emptyDescriptor, [signature.desc], { artifactType: 'application/vnd.example', subject: image.manifest.desc });
      await store.push(referrer.desc, referrer.bytes);

      // A fresh instance has no cache: everything is found from disk.
      const reopened = await OciLayoutStore.open(dir);
      const digests = async (desc: Descriptor): Promise<string[]> => (await reopened.predecessors(desc)).map((found) => found.digest).sort();
      expect(await digests(image.manifest.desc)).toEqual([index.desc.digest, referrer.desc.digest].sort());
      expect(await digests(image.layer.desc)).toEqual([image.manifest.desc.digest]);
      expect(await digests(signature.desc)).toEqual([referrer.desc.digest]);
      expect(await digests(index.desc)).toEqual([]);
      // Descriptors come back without the ref.name annotation.
      expect(await reopened.predecessors(other.manifest.desc)).toEqual([index.desc]);
    }));

  it('deletes manifests with their index.json entries, and blobs', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const { manifest, layer } = await pushImage(store);
      const kept = await pushImage(store);
      await store.tag(manifest.desc, 'v1');
      await store.tag(manifest.desc, 'v2');
      await store.delete(manifest.desc);
      expect((await readIndexFile(dir)).manifests).toEqual([kept.manifest.desc]);
      expect(existsSync(blobFile(dir, manifest.desc.digest))).toBe(false);
      await store.delete(layer.desc);
      expect(existsSync(blobFile(dir, layer.desc.digest))).toBe(false);
      await expectCode(store.delete(layer.desc), 'NOT_FOUND');
    }));

  it('refuses digests that could name a path outside the layout', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const bytes = randomBytes(8);
      for (const digest of ['sha256:../../../etc/passwd', 'sha256/../x:abc', `../sha256:${'a'.repeat(64)}`, `sha256:${'A'.repeat(64)}`]) {
        const desc: Descriptor = { mediaType: MediaType.ociLayer, digest, size: 8 };
        await expectCode(store.push(desc, bytes), 'INVALID_DIGEST');
        await expectCode(store.fetch(desc), 'INVALID_DIGEST');
        await expectCode(store.exists(desc), 'INVALID_DIGEST');
      }
      expect(await readdir(root)).toEqual(['layout']);
    }));

  it('refuses a manifest that does not parse, and lists nothing', () =>
    withTempDir(async (root) => {
      const dir = path.join(root, 'layout');
      const store = await OciLayoutStore.open(dir, { create: true });
      const garbage = Buffer.from('{"schemaVersion": 2, "manifests": "no"}');
      const desc = describeBytes(garbage, MediaType.ociIndex);
      await expectCode(store.push(desc, garbage), 'INVALID_MANIFEST');
      expect(await store.exists(desc)).toBe(false);
      expect((await readIndexFile(dir)).manifests).toEqual([]);
    }));
});

const hasSkopeo = existsSync('/usr/bin/skopeo');
const hasUmoci = existsSync('/usr/bin/umoci');

describe.skipIf(!hasSkopeo || !hasUmoci)('OciLayoutStore interop with skopeo and umoci (needs /usr/bin/skopeo and /usr/bin/umoci)', () => {
  it('writes a layout skopeo and umoci read, and reads the layout skopeo writes', { timeout: 120_000 }, () =>
    withTempDir(async (root) => {
      const ours = path.join(root, 'ours');
      const store = await OciLayoutStore.open(ours, { create: true });
      const image = await buildImage();
      for (const blob of [image.layer, image.config, image.manifest]) await store.push(blob.desc, blob.bytes);
      await store.tag(image.manifest.desc, 'v1');
      // An untagged referrer in index.json must not upset the other tools.
      await store.push(emptyDescriptor, emptyJson);
      const referrer = imageManifest(emptyDescriptor, [emptyDescriptor], { artifactType: 'application/vnd.example', subject: image.manifest.desc });
      await store.push(referrer.desc, referrer.bytes);

      const { stdout: listed } = await run('umoci', ['ls', '--layout', ours]);
      expect(listed.split('\n')).toContain('v1');
      const bundle = path.join(root, 'bundle');
      await run('umoci', ['unpack', '--rootless', '--image', `${ours}:v1`, bundle]);
      expect(await readFile(path.join(bundle, 'rootfs', 'data', 'hello.txt'), 'utf8')).toBe(helloText);

      const copied = path.join(root, 'copied');
      await run('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${ours}:v1`, `oci:${copied}:v1`]);
      expect(refNames((await readIndexFile(copied)).manifests)).toEqual({ v1: image.manifest.desc.digest });

      // skopeo writes a layout; stowage reads it, verifying every byte.
      const theirs = path.join(root, 'theirs');
      await run('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${ours}:v1`, `oci:${theirs}:t2`]);
      const reader = await OciLayoutStore.open(theirs);
      const resolved = await reader.resolve('t2');
      expect(resolved.mediaType).toBe(MediaType.ociManifest);
      const parsed = parseManifest(await fetchBytes(reader, resolved), resolved.mediaType, 't2');
      if (parsed.kind !== 'manifest') throw new Error('expected an image manifest');
      expect((await fetchAll(reader, parsed.manifest.config)).byteLength).toBe(parsed.manifest.config.size);
      const [layer] = parsed.manifest.layers;
      expect(layer?.digest).toBe(image.layer.desc.digest);
      expect((await readStream(await reader.fetch(layer!))).equals(image.layer.bytes)).toBe(true);
      expect((await reader.predecessors(layer!)).map((desc) => desc.digest)).toEqual([resolved.digest]);

      // stowage adds to skopeo's layout; skopeo still reads both tags.
      await reader.tag(resolved, 'again');
      const extra = await pushImage(reader);
      await reader.tag(extra.manifest.desc, 'extra');
      expect((await readIndexFile(theirs)).mediaType).toBe(MediaType.ociIndex);
      for (const tag of ['t2', 'again']) {
        const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${theirs}:${tag}`]);
        expect(digestOf(stdout)).toBe(resolved.digest);
      }
      const { stdout: theirList } = await run('umoci', ['ls', '--layout', theirs]);
      expect(theirList.split('\n').filter((line) => line !== '').sort()).toEqual(['again', 'extra', 't2']);
    }));
});

const helloText = 'hello from stowage\n';

/** A real single-layer image: a gzipped tar with `data/hello.txt`, its config (with diff_ids), its manifest. */
async function buildImage(): Promise<{ layer: { desc: Descriptor; bytes: Buffer }; config: { desc: Descriptor; bytes: Buffer }; manifest: { desc: Descriptor; bytes: Buffer } }> {
  const pack = tar.pack();
  pack.entry({ name: 'data/', type: 'directory', mode: 0o755, mtime: new Date(0) });
  pack.entry({ name: 'data/hello.txt', mode: 0o644, mtime: new Date(0) }, helloText);
  pack.finalize();
  const tarBytes = await readStream(pack);
  const layerBytes = gzipSync(tarBytes);
  const layer = { desc: describeBytes(layerBytes, MediaType.ociLayerGzip), bytes: layerBytes };
  const configBytes = Buffer.from(
    JSON.stringify({
      created: '2024-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [digestOf(tarBytes)] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'stowage test' }],
    }),
  );
  const config = { desc: describeBytes(configBytes, MediaType.ociConfig), bytes: configBytes };
  const manifest = imageManifest(config.desc, [layer.desc]);
  return { layer, config, manifest };
}

/** Transpiles `entry` and every relative module it imports into `outRoot`, keeping paths under the repo. */
async function transpileTree(entry: string, outRoot: string): Promise<void> {
  const queue = [entry];
  const done = new Set<string>();
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (done.has(file)) continue;
    done.add(file);
    const source = await readFile(file, 'utf8');
    for (const match of source.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
      queue.push(path.resolve(path.dirname(file), `${match[1]!}.ts`));
    }
    const output = ts.transpileModule(source, {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const target = path.join(outRoot, path.relative(repoRoot, file)).replace(/\.ts$/, '.js');
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, output.outputText);
  }
}

/** Opens (creating) the layout, then pushes and tags `count` manifests at once; prints what it tagged. */
const childScript = `
import { createHash, randomBytes } from 'node:crypto';
import { OciLayoutStore } from './src/content/oci-layout-store.js';

const [dir, id, count] = process.argv.slice(2);
const describe = (bytes, mediaType) => ({ mediaType, digest: 'sha256:' + createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
const store = await OciLayoutStore.open(dir, { create: true });
const pushed = await Promise.all(Array.from({ length: Number(count) }, async (_, i) => {
  const config = Buffer.from(JSON.stringify({ process: id, i, nonce: randomBytes(8).toString('hex') }));
  const configDesc = describe(config, 'application/vnd.oci.image.config.v1+json');
  await store.push(configDesc, config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers: [] }));
  const manifestDesc = describe(manifest, 'application/vnd.oci.image.manifest.v1+json');
  await store.push(manifestDesc, manifest);
  const tag = 'p' + id + '-' + i;
  await store.tag(manifestDesc, tag);
  return { tag, digest: manifestDesc.digest };
}));
process.stdout.write(JSON.stringify(pushed));
`;
