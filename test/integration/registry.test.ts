/** RemoteRepository and RemoteRegistry against a real docker-registry 2.8 (see /work/shared/FACTS.md for its quirks). */
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { HttpClient } from '../../src/registry/http.js';
import { RemoteRegistry } from '../../src/registry/registry.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import { freePort, uniqueRepository, useRegistry, type RunningRegistry } from '../helpers/registry-harness.js';
import { describeBytes, expectCode, fetchAll, imageManifest, pushImage, randomBlob, randomConfig, randomTag, readStream, rejection } from '../helpers/store-contract.js';

const registry = useRegistry();

function repositoryOf(running: RunningRegistry, name = uniqueRepository()): RemoteRepository {
  return new RemoteRepository({ registry: running.host, repository: name });
}

/** Where docker-registry's filesystem driver keeps a blob's bytes. */
function blobPath(running: RunningRegistry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(running.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

describe('RemoteRepository against docker-registry', () => {
  it('pushes under a tag, resolves by HEAD and fetches by reference with a verified descriptor', async () => {
    const repo = repositoryOf(registry());
    const config = randomConfig();
    const layer = randomBlob(500);
    await repo.push(config.desc, config.bytes);
    await repo.push(layer.desc, layer.bytes);
    const manifest = imageManifest(config.desc, [layer.desc]);
    await repo.pushReference(manifest.desc, Readable.from([manifest.bytes]), 'v1');
    expect(await repo.resolve('v1')).toEqual(manifest.desc);
    const fetched = await repo.fetchReference('v1');
    expect(fetched.descriptor).toEqual(manifest.desc);
    expect((await readStream(fetched.content)).equals(manifest.bytes)).toBe(true);
    const byDigest = await repo.fetchReference(manifest.desc.digest);
    expect(byDigest.descriptor).toEqual(manifest.desc);
  });

  it('rejects a manifest whose Content-Type is not its media type, on push and on fetch', async () => {
    const repo = repositoryOf(registry());
    const { manifest } = await pushImage(repo);
    // The registry refuses a body whose mediaType differs from Content-Type (400 MANIFEST_INVALID).
    const claimedIndex: Descriptor = { ...manifest.desc, mediaType: MediaType.ociIndex };
    const pushError = await rejection(repo.pushReference(claimedIndex, manifest.bytes, randomTag()));
    expect(isStowageError(pushError, 'REGISTRY_ERROR')).toBe(true);
    expect(String(pushError)).toContain(`push manifest ${repo.display()}:`);
    // Fetched by a descriptor that says it is a Docker manifest: served as OCI, refused.
    const claimedDocker: Descriptor = { ...manifest.desc, mediaType: MediaType.dockerManifest };
    await expectCode(repo.fetch(claimedDocker), 'INVALID_MEDIA_TYPE');
    await expectCode(repo.tag(claimedDocker, randomTag()), 'INVALID_MEDIA_TYPE');
  });

  it('fails a missing tag with NOT_FOUND naming the reference', async () => {
    const repo = repositoryOf(registry());
    await pushImage(repo);
    const resolveError = await rejection(repo.resolve('no-such-tag'));
    expect(isStowageError(resolveError, 'NOT_FOUND')).toBe(true);
    expect(String(resolveError)).toContain(`resolve ${registry().host}/${repo.repository}:no-such-tag`);
    const fetchError = await rejection(repo.fetchReference('no-such-tag'));
    expect(isStowageError(fetchError, 'NOT_FOUND')).toBe(true);
    // The GET has a body: the registry's own words end the message.
    expect(String(fetchError)).toContain(`fetch manifest ${registry().host}/${repo.repository}:no-such-tag: manifest unknown`);
  });

  it('lists tags, sorted and after `last`', async () => {
    const repo = repositoryOf(registry());
    const { manifest } = await pushImage(repo);
    const tags = ['delta', 'alpha', 'echo', 'charlie', 'bravo'];
    for (const tag of tags) await repo.tag(manifest.desc, tag);
    const all: string[] = [];
    for await (const page of repo.tags()) all.push(...page);
    expect(all).toEqual([...tags].sort());
    const after: string[] = [];
    for await (const page of repo.tags({ last: 'bravo' })) after.push(...page);
    expect(after).toEqual(['charlie', 'delta', 'echo']);
    await expectCode(collect(repositoryOf(registry()).tags()), 'NOT_FOUND');
  });

  it('pages the catalog with n and Link', async () => {
    const running = registry();
    const prefix = uniqueRepository('catalog');
    const names = [`${prefix}/a`, `${prefix}/b`, `${prefix}/c`, `${prefix}/d`, `${prefix}/e`];
    // A repository shows in the catalog once it holds something: push a real blob to each.
    for (const name of names) {
      const blob = randomBlob(10);
      await repositoryOf(running, name).push(blob.desc, blob.bytes);
    }
    const remote = new RemoteRegistry({ registry: running.host });
    expect(await remote.ping()).toEqual({ authorized: true });
    const pages: string[][] = [];
    for await (const page of remote.catalog({ n: 2 })) pages.push(page);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(2);
    const seen = pages.flat();
    for (const name of names) expect(seen).toContain(name);
    expect(new Set(seen).size).toBe(seen.length);
    const after: string[] = [];
    for await (const page of remote.catalog({ n: 2, last: `${prefix}/c` })) after.push(...page);
    expect(after).toContain(`${prefix}/d`);
    expect(after).not.toContain(`${prefix}/b`);
    expect(() => remote.catalog({ n: 0 })).toThrow(/page size/);
  });

  it('deletes a manifest by digest, after which it no longer resolves', async () => {
    const repo = repositoryOf(registry());
    const { manifest } = await pushImage(repo);
    await repo.delete(manifest.desc);
    await expectCode(repo.resolve(manifest.desc.digest), 'NOT_FOUND');
    await expectCode(repo.delete(manifest.desc), 'NOT_FOUND');
  });

  it('mounts a blob from another repository (true), and not a missing one (false)', async () => {
    const running = registry();
    const source = repositoryOf(running);
    const target = repositoryOf(running);
    const blob = randomBlob(4096);
    await source.push(blob.desc, blob.bytes);
    expect(await target.exists(blob.desc)).toBe(false);
    expect(await target.mount(blob.desc, source.repository)).toBe(true);
    expect(await target.exists(blob.desc)).toBe(true);
    expect((await fetchAll(target, blob.desc)).equals(blob.bytes)).toBe(true);
    expect(running.log()).toContain(`mount=${encodeURIComponent(blob.desc.digest)}`);
    const missing = randomBlob(100);
    expect(await target.mount(missing.desc, source.repository)).toBe(false);
    expect(await target.exists(missing.desc)).toBe(false);
    await expectCode(target.mount(blob.desc, 'Not/Valid'), 'INVALID_REFERENCE');
  });

  it('streams a 64 MiB blob up and down, verified, without holding it in memory', async () => {
    const repo = repositoryOf(registry());
    const chunkSize = 1024 * 1024;
    const seed = randomBytes(chunkSize);
    // Deterministic 1 MiB chunks: the seed with the chunk number written over its first bytes.
    function* chunks(): Generator<Buffer> {
      for (let index = 0; index < 64; index++) {
        const chunk = Buffer.from(seed);
        chunk.writeUInt32BE(index, 0);
        yield chunk;
      }
    }
    const hash = createHash('sha256');
    for (const chunk of chunks()) hash.update(chunk);
    const desc: Descriptor = { mediaType: MediaType.ociLayer, digest: `sha256:${hash.digest('hex')}`, size: 64 * chunkSize };
    await repo.push(desc, Readable.from(chunks()));
    expect(await repo.exists(desc)).toBe(true);
    const back = createHash('sha256');
    let size = 0;
    for await (const chunk of (await repo.fetch(desc)) as AsyncIterable<Buffer>) {
      back.update(chunk);
      size += chunk.byteLength;
    }
    expect(size).toBe(desc.size);
    expect(`sha256:${back.digest('hex')}`).toBe(desc.digest);
  });

  it('fails a fetch with DIGEST_MISMATCH when the registry serves other bytes than the digest says', async () => {
    const running = registry();
    const repo = repositoryOf(running);
    const blob = randomBlob(2048);
    await repo.push(blob.desc, blob.bytes);
    // Corrupt the stored bytes (same length): docker-registry serves them without checking.
    await writeFile(blobPath(running, blob.desc.digest), randomBytes(2048));
    const error = await rejection(repo.fetch(blob.desc).then(readStream));
    expect(isStowageError(error, 'DIGEST_MISMATCH')).toBe(true);
    expect(String(error)).toContain(`fetch blob ${repo.display(blob.desc.digest)}`);
  });

  it('refuses to push a stream that does not hash to its descriptor, and cancels the upload session', async () => {
    const running = registry();
    const repo = repositoryOf(running);
    const blob = randomBlob(256 * 1024);
    const claimed: Descriptor = { ...blob.desc, digest: describeBytes(randomBytes(16), MediaType.ociLayer).digest };
    await expectCode(repo.push(claimed, Readable.from([blob.bytes])), 'DIGEST_MISMATCH');
    expect(await repo.exists(blob.desc)).toBe(false);
    expect(await repo.exists(claimed)).toBe(false);
    expect(running.log()).toMatch(new RegExp(`DELETE /v2/${repo.repository}/blobs/uploads/`));
  });

  it('fails with NETWORK when nothing listens on the port', async () => {
    const port = await freePort();
    const repo = new RemoteRepository({ registry: `127.0.0.1:${port}`, repository: 'app' });
    const error = await rejection(repo.resolve('latest'));
    expect(isStowageError(error, 'NETWORK')).toBe(true);
    expect(String(error)).toContain(`cannot reach 127.0.0.1:${port}`);
    await expectCode(new RemoteRegistry({ registry: `127.0.0.1:${port}` }).ping(), 'NETWORK');
  });

  it('fails with ABORTED when the signal fires, before or during a fetch', async () => {
    const repo = repositoryOf(registry());
    const blob = randomBlob(8 * 1024 * 1024);
    await repo.push(blob.desc, blob.bytes);
    await expectCode(repo.fetch(blob.desc, { signal: AbortSignal.abort() }), 'ABORTED');
    await expectCode(repo.resolve('latest', { signal: AbortSignal.abort() }), 'ABORTED');
    const controller = new AbortController();
    const stream = await repo.fetch(blob.desc, { signal: controller.signal });
    const read = (async () => {
      let seen = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        seen += chunk.byteLength;
        if (seen > 0) controller.abort();
      }
    })();
    await expectCode(read, 'ABORTED');
  });

  it('refuses malformed names and references before any request', async () => {
    expect(() => new RemoteRepository({ registry: registry().host, repository: 'Upper/Case' })).toThrow(/invalid repository/);
    expect(() => new RemoteRepository({ registry: 'host/with/path', repository: 'app' })).toThrow(/invalid registry/);
    const repo = repositoryOf(registry());
    await expectCode(repo.resolve('bad tag'), 'INVALID_REFERENCE');
    await expectCode(repo.fetchReference('sha256:short'), 'INVALID_REFERENCE');
    const { manifest } = await pushImage(repo);
    await expectCode(repo.pushReference(manifest.desc, manifest.bytes, randomBlob(1).desc.digest), 'INVALID_ARGUMENT');
  });
});

describe('RemoteRepository against docker-registry with htpasswd (Basic auth)', () => {
  const secured = useRegistry({ auth: 'htpasswd', users: { alice: 'wonderland' } });

  function repositoryAs(username: string | undefined, password: string, name = uniqueRepository('auth')): RemoteRepository {
    const running = secured();
    return new RemoteRepository({
      registry: running.host,
      repository: name,
      ...(username === undefined ? {} : { credentials: (host: string) => (host === running.host ? { username, password } : undefined) }),
    });
  }

  it('pushes and pulls with the right credentials, streams included', async () => {
    const repo = repositoryAs('alice', 'wonderland');
    const { manifest, layer } = await pushImage(repo);
    const big = randomBlob(1024 * 1024);
    await repo.push(big.desc, Readable.from([big.bytes.subarray(0, 1000), big.bytes.subarray(1000)]));
    await repo.tag(manifest.desc, 'v1');
    expect(await repo.resolve('v1')).toEqual(manifest.desc);
    expect((await fetchAll(repo, layer.desc)).equals(layer.bytes)).toBe(true);
    expect((await fetchAll(repo, big.desc)).equals(big.bytes)).toBe(true);
    expect(await new RemoteRegistry({ registry: secured().host, client: repo.client }).ping()).toEqual({ authorized: true });
  });

  it('fails with UNAUTHORIZED without credentials or with wrong ones', async () => {
    const name = uniqueRepository('auth');
    for (const repo of [repositoryAs(undefined, '', name), repositoryAs('alice', 'queen of hearts', name), repositoryAs('bob', 'wonderland', name)]) {
      const error = await rejection(repo.resolve('latest'));
      expect(isStowageError(error, 'UNAUTHORIZED')).toBe(true);
      expect(String(error)).toContain('credentials are missing or wrong');
      const blob = randomBlob(100);
      await expectCode(repo.push(blob.desc, Readable.from([blob.bytes])), 'UNAUTHORIZED');
      await expectCode(repo.exists(blob.desc), 'UNAUTHORIZED');
    }
    expect(await new RemoteRegistry({ registry: secured().host }).ping()).toEqual({ authorized: false });
  });

  it('sends credentials only to the host they were given for', async () => {
    const running = secured();
    const client = new HttpClient({ credentials: (host) => (host === 'elsewhere.example:5000' ? { username: 'alice', password: 'wonderland' } : undefined) });
    const repo = new RemoteRepository({ registry: running.host, repository: uniqueRepository('auth'), client });
    await expectCode(repo.resolve('latest'), 'UNAUTHORIZED');
  });
});

describe('tag list paging over Link headers (fixture server)', () => {
  let server: Server;
  let host = '';
  const requests: string[] = [];

  beforeAll(async () => {
    // A stand-in registry that pages tags two at a time, with relative Links, and a cross-origin Link for `evil`.
    const pages: Record<string, { tags: string[]; next?: string }> = {
      '': { tags: ['a', 'b'], next: '/v2/paged/tags/list?n=2&last=b' },
      b: { tags: ['c', 'd'], next: '/v2/paged/tags/list?n=2&last=d' },
      d: { tags: ['e'] },
    };
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      requests.push(req.url ?? '');
      const url = new URL(req.url ?? '/', 'http://fixture');
      if (url.pathname === '/v2/evil/tags/list') {
        res.writeHead(200, { 'content-type': 'application/json', link: '<http://127.0.0.2:1/v2/evil/tags/list?last=x>; rel="next"' });
        res.end(JSON.stringify({ name: 'evil', tags: ['x'] }));
        return;
      }
      const page = pages[url.searchParams.get('last') ?? ''];
      if (url.pathname !== '/v2/paged/tags/list' || page === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', ...(page.next === undefined ? {} : { link: `<${page.next}>; rel="next"` }) });
      res.end(JSON.stringify({ name: 'paged', tags: page.tags }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    host = `127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('follows rel="next" until the last page', async () => {
    const repo = new RemoteRepository({ registry: host, repository: 'paged' });
    const pages: string[][] = [];
    for await (const page of repo.tags()) pages.push(page);
    expect(pages).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    expect(requests).toContain('/v2/paged/tags/list?n=2&last=d');
  });

  it('refuses a next page on another origin', async () => {
    const repo = new RemoteRepository({ registry: host, repository: 'evil' });
    const error = await rejection(collect(repo.tags()));
    expect(isStowageError(error, 'REGISTRY_ERROR')).toBe(true);
    expect(String(error)).toContain('another origin');
  });
});

async function collect(pages: AsyncIterable<string[]>): Promise<string[]> {
  const out: string[] = [];
  for await (const page of pages) out.push(...page);
  return out;
}
