/**
 * Referrers against the real docker-registry 2.8 (no referrers API: the tag-schema fallback is the path):
 * attach an SBOM and a signature, a signature of the signature (a chain), list and filter, delete one and
 * see the index shrink with its old versions deleted, many writers at once (none lost), a delete racing
 * with adds, and a fallback tag that holds something that is not a referrers index.
 */
import { describe, expect, it } from 'vitest';
import { RemoteRepository } from '../../src/registry/repository.js';
import { readFallbackIndex, fallbackUpdateAnnotation, type ReferrersRepository } from '../../src/registry/referrers.js';
import { MediaType, emptyDescriptor, emptyJson } from '../../src/oci/media-types.js';
import { fallbackTag } from '../../src/oci/referrers.js';
import { imageIndexSchema, parseJson, type Descriptor } from '../../src/oci/schemas.js';
import { packManifest } from '../../src/pack/pack.js';
import { referrerTree } from '../../src/content/referrers.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { uniqueRepository, useRegistry } from '../helpers/registry-harness.js';
import { fetchAll, pushImage } from '../helpers/store-contract.js';

const registry = useRegistry();

function open(repository: string): RemoteRepository {
  // A repository object (and HTTP client) of its own per writer, as separate processes would have.
  return new RemoteRepository({ registry: registry().host, repository, referrersUpdate: { settleMs: 150 } });
}

/** Pushes a referrer of `subject` (empty config and layer) and returns its descriptor. */
async function attach(repo: RemoteRepository, subject: Descriptor, artifactType: string, annotations: Record<string, string> = {}): Promise<Descriptor> {
  // HEAD first, as copy does: docker-registry can lose a blob that several clients upload at the same moment.
  if (!(await repo.exists({ ...emptyDescriptor }))) await repo.push({ ...emptyDescriptor }, emptyJson);
  const packed = packManifest({
    files: [],
    artifactType,
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'io.stowage.test.nonce': Math.random().toString(36).slice(2), ...annotations },
  });
  await repo.push(packed.descriptor, packed.bytes);
  return packed.descriptor;
}

async function list(repo: RemoteRepository, subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for await (const page of repo.referrers(subject, artifactType === undefined ? {} : { artifactType })) out.push(...page);
  return out;
}

/** What the fallback tag holds, read with plain HTTP. */
async function rawIndex(repository: string, subject: Descriptor): Promise<{ status: number; digests: string[]; annotations: Record<string, string> }> {
  const response = await fetch(`http://${registry().host}/v2/${repository}/manifests/${fallbackTag(subject.digest)}`, { headers: { accept: MediaType.ociIndex } });
  if (response.status !== 200) return { status: response.status, digests: [], annotations: {} };
  const index = parseJson(imageIndexSchema, new Uint8Array(await response.arrayBuffer()), 'index');
  return { status: 200, digests: index.manifests.map((entry) => entry.digest), annotations: index.annotations ?? {} };
}

async function manifestStatus(repository: string, digest: string): Promise<number> {
  const response = await fetch(`http://${registry().host}/v2/${repository}/manifests/${digest}`, { method: 'HEAD', headers: { accept: `${MediaType.ociIndex}, ${MediaType.ociManifest}` } });
  return response.status;
}

describe('referrers on docker-registry (tag-schema fallback)', () => {
  it('attaches an SBOM, a signature and a signature of the signature; lists, filters, walks the chain', async () => {
    const name = uniqueRepository('referrers');
    const repo = open(name);
    const { manifest: image } = await pushImage(repo);
    const sbom = await attach(repo, image.desc, 'application/spdx+json', { 'org.example.tool': 'syft' });
    const signature = await attach(repo, image.desc, 'application/vnd.example.signature');
    const countersignature = await attach(repo, signature, 'application/vnd.example.signature');
    expect(repo.referrersApiSupported).toBeUndefined();

    const all = await list(repo, image.desc);
    expect(all.map((entry) => entry.digest).sort()).toEqual([sbom.digest, signature.digest].sort());
    const sbomEntry = all.find((entry) => entry.digest === sbom.digest);
    expect(sbomEntry).toMatchObject({ mediaType: MediaType.ociManifest, size: sbom.size, artifactType: 'application/spdx+json' });
    expect(sbomEntry?.annotations?.['org.example.tool']).toBe('syft');
    expect(repo.referrersApiSupported).toBe(false);

    expect((await list(repo, image.desc, 'application/vnd.example.signature')).map((entry) => entry.digest)).toEqual([signature.digest]);
    expect(await list(repo, image.desc, 'application/vnd.example.none')).toEqual([]);

    const tree = await referrerTree(repo, image.desc);
    const signatureNode = tree.find((node) => node.descriptor.digest === signature.digest);
    expect(signatureNode?.referrers.map((node) => node.descriptor.digest)).toEqual([countersignature.digest]);
    expect((await referrerTree(repo, image.desc, { depth: 1 })).every((node) => node.referrers.length === 0)).toBe(true);

    // The index is what the spec says: an OCI index of referrer descriptors under sha256-<hex>.
    const raw = await rawIndex(name, image.desc);
    expect(raw.digests.sort()).toEqual([sbom.digest, signature.digest].sort());
    expect(raw.annotations[fallbackUpdateAnnotation]).toMatch(/^[0-9a-f]{24}$/);
  });

  it('deleting a referrer takes it out of the index, and old index versions are deleted', async () => {
    const name = uniqueRepository('referrers-delete');
    const repo = open(name);
    const { manifest: image } = await pushImage(repo);
    const first = await attach(repo, image.desc, 'application/vnd.example.a');
    const firstIndex = repo.lastReferrersUpdate?.index;
    const second = await attach(repo, image.desc, 'application/vnd.example.b');
    const third = await attach(repo, image.desc, 'application/vnd.example.c');
    expect(firstIndex).toBeDefined();
    // The index the second attach replaced is gone (deletion is enabled on the harness registry).
    expect(await manifestStatus(name, firstIndex?.digest ?? '')).toBe(404);
    expect((await rawIndex(name, image.desc)).digests).toHaveLength(3);
    const beforeDelete = repo.lastReferrersUpdate?.index;

    await repo.delete(second);
    expect(await manifestStatus(name, second.digest)).toBe(404);
    const after = await rawIndex(name, image.desc);
    expect(after.digests.sort()).toEqual([first.digest, third.digest].sort());
    expect(repo.lastReferrersUpdate?.deleted).toEqual([beforeDelete?.digest]);
    expect(await manifestStatus(name, beforeDelete?.digest ?? '')).toBe(404);
    expect((await list(open(name), image.desc)).map((entry) => entry.digest).sort()).toEqual([first.digest, third.digest].sort());

    // Only the subject's tag and the fallback tag are left: no pile of old indexes, no stray tags.
    const tags: string[] = [];
    for await (const page of repo.tags()) tags.push(...page);
    expect(tags).toEqual([fallbackTag(image.desc.digest)]);
  });

  it('keeps every referrer when ten writers attach to one subject at once', async () => {
    const name = uniqueRepository('referrers-race');
    const setup = open(name);
    const { manifest: image } = await pushImage(setup);
    await setup.push({ ...emptyDescriptor }, emptyJson);
    const attached = await Promise.all(Array.from({ length: 10 }, (_, index) => attach(open(name), image.desc, `application/vnd.example.w${index}`)));
    const listed = await list(open(name), image.desc);
    expect(listed.map((entry) => entry.digest).sort()).toEqual(attached.map((desc) => desc.digest).sort());
  });

  it('a delete racing with adds: the deleted one is gone, every added one is there', async () => {
    const name = uniqueRepository('referrers-race-delete');
    const setup = open(name);
    const { manifest: image } = await pushImage(setup);
    const doomed = await attach(setup, image.desc, 'application/vnd.example.doomed');
    const kept = await attach(setup, image.desc, 'application/vnd.example.kept');
    const [added] = await Promise.all([
      Promise.all(Array.from({ length: 5 }, (_, index) => attach(open(name), image.desc, `application/vnd.example.new${index}`))),
      open(name).delete(doomed),
    ]);
    const listed = (await list(open(name), image.desc)).map((entry) => entry.digest).sort();
    expect(listed).toEqual([kept.digest, ...added.map((desc) => desc.digest)].sort());
  });

  it('reads a fallback tag that holds something else (the subject itself, as GitLab answers) as empty, and never deletes it', async () => {
    const name = uniqueRepository('referrers-foreign');
    const repo = open(name);
    const { manifest: image } = await pushImage(repo);
    await repo.tag(image.desc, fallbackTag(image.desc.digest));
    expect(await list(repo, image.desc)).toEqual([]);
    const host: ReferrersRepository = {
      client: repo.client,
      baseUrl: repo.baseUrl,
      repository: name,
      display: (reference) => repo.display(reference),
      fetchReference: (reference, options) => repo.fetchReference(reference, options),
      pushReference: (desc, content, reference, options) => repo.pushReference(desc, content, reference, options),
      exists: (desc, options) => repo.exists(desc, options),
      deleteManifest: (desc, options) => repo.delete(desc, options),
    };
    expect(await readFallbackIndex(host, image.desc)).toEqual({ entries: [], foreign: true });

    const sbom = await attach(repo, image.desc, 'application/spdx+json');
    expect((await list(repo, image.desc)).map((entry) => entry.digest)).toEqual([sbom.digest]);
    expect(repo.lastReferrersUpdate?.deleted).toEqual([]);
    // The subject survived: an old "index" that was not ours was not deleted.
    expect((await fetchAll(repo, image.desc)).equals(image.bytes)).toBe(true);
  });

  it('deleting a manifest without a subject touches no index', async () => {
    const name = uniqueRepository('referrers-plain-delete');
    const repo = open(name);
    const { manifest: image } = await pushImage(repo);
    const sbom = await attach(repo, image.desc, 'application/spdx+json');
    const update = repo.lastReferrersUpdate;
    const other = await pushImage(repo);
    await repo.delete(other.manifest.desc);
    expect(repo.lastReferrersUpdate).toBe(update);
    expect((await list(repo, image.desc)).map((entry) => entry.digest)).toEqual([sbom.digest]);
  });

  it('a failed PUT of the index is not retried blindly: the next round reads afresh and writes again', async () => {
    const proxy = await startFaultProxy(registry().url);
    try {
      const name = uniqueRepository('referrers-fault');
      const repo = new RemoteRepository({ registry: proxy.host, repository: name, referrersUpdate: { settleMs: 50 } });
      const { manifest: image } = await pushImage(repo);
      const tagPath = new RegExp(`/manifests/${fallbackTag(image.desc.digest)}$`);
      proxy.script([{ method: 'PUT', path: tagPath, fault: { kind: 'status', status: 503 } }]);
      const sbom = await attach(repo, image.desc, 'application/spdx+json');
      const puts = proxy.exchanges.filter((exchange) => exchange.method === 'PUT' && tagPath.test(exchange.path));
      expect(puts.map((exchange) => exchange.status)).toEqual([503, 201]);
      // Between the two PUTs, the index was read again.
      const first = proxy.exchanges.indexOf(puts[0] as (typeof puts)[number]);
      const second = proxy.exchanges.indexOf(puts[1] as (typeof puts)[number]);
      expect(proxy.exchanges.slice(first + 1, second).some((exchange) => exchange.method === 'GET' && tagPath.test(exchange.path))).toBe(true);
      expect((await list(repo, image.desc)).map((entry) => entry.digest)).toEqual([sbom.digest]);
    } finally {
      await proxy.stop();
    }
  });

  it('survives a writer that read before our write and overwrites it after (as ORAS would): the check after the settle delay puts ours back', async () => {
    const name = uniqueRepository('referrers-stale-writer');
    const repo = open(name);
    const { manifest: image } = await pushImage(repo);
    await repo.push({ ...emptyDescriptor }, emptyJson);
    const base = `http://${registry().host}/v2/${name}/manifests`;
    const tag = fallbackTag(image.desc.digest);
    // The stale writer's referrer, pushed by digest with plain HTTP (no index bookkeeping).
    const theirs = packManifest({ files: [], artifactType: 'application/vnd.example.stale', subject: { mediaType: image.desc.mediaType, digest: image.desc.digest, size: image.desc.size } });
    expect((await fetch(`${base}/${theirs.descriptor.digest}`, { method: 'PUT', headers: { 'content-type': MediaType.ociManifest }, body: theirs.bytes })).status).toBe(201);
    // It reads the index now (there is none yet) ...
    expect((await fetch(`${base}/${tag}`, { headers: { accept: MediaType.ociIndex } })).status).toBe(404);

    const ours = attach(repo, image.desc, 'application/spdx+json');
    // ... and writes its stale view (only its own entry) right after our first write landed.
    for (let seen = false; !seen; ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen = (await rawIndex(name, image.desc)).digests.length > 0;
    }
    const stale = JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ mediaType: MediaType.ociManifest, digest: theirs.descriptor.digest, size: theirs.descriptor.size, artifactType: 'application/vnd.example.stale' }],
    });
    expect((await fetch(`${base}/${tag}`, { method: 'PUT', headers: { 'content-type': MediaType.ociIndex }, body: stale })).status).toBe(201);
    expect((await rawIndex(name, image.desc)).digests).toEqual([theirs.descriptor.digest]);

    const sbom = await ours;
    expect(repo.lastReferrersUpdate?.writes).toBe(2);
    expect((await list(repo, image.desc)).map((entry) => entry.digest).sort()).toEqual([sbom.digest, theirs.descriptor.digest].sort());
  });
});
