/** Redirects on blob GETs (registries hand downloads to a CDN): credentials stay on their origin, content is verified. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import { startRedirectFixture, type RedirectFixture } from '../helpers/redirect-fixture.js';
import { expectCode, fetchAll, randomBlob, readStream, rejection } from '../helpers/store-contract.js';

const username = 'carol';
const password = 'redirected';

describe('blob fetch through redirects (redirect fixture)', () => {
  let fixture: RedirectFixture;

  beforeAll(async () => {
    fixture = await startRedirectFixture({ username, password });
  });
  afterAll(async () => {
    await fixture.stop();
  });
  beforeEach(() => {
    fixture.registryRequests.length = 0;
    fixture.storageRequests.length = 0;
  });

  function repository(name: 'cross' | 'same' | 'bounce' | 'loop'): RemoteRepository {
    return new RemoteRepository({
      registry: fixture.registryHost,
      repository: name,
      credentials: (host) => (host === fixture.registryHost ? { username, password } : undefined),
    });
  }

  it('follows a 307 to another origin without the Authorization header, and verifies the bytes', async () => {
    const blob = randomBlob(64 * 1024);
    fixture.addBlob(blob.desc.digest, blob.bytes);
    const content = await fetchAll(repository('cross'), blob.desc);
    expect(content.equals(blob.bytes)).toBe(true);
    // The registry origin was asked twice: anonymously (401 Basic challenge), then with the credentials.
    expect(fixture.registryRequests.map((request) => request.headers.authorization)).toEqual([undefined, `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`]);
    expect(fixture.storageRequests).toHaveLength(1);
    expect(fixture.storageRequests[0]!.url).toBe(`/storage/${blob.desc.digest}?signature=fixture`);
    expect(fixture.storageRequests[0]!.headers.authorization).toBeUndefined();
    expect(fixture.storageRequests[0]!.headers['user-agent']).toMatch(/^stowage\//);
  });

  it('fails with DIGEST_MISMATCH when the other origin serves other bytes', async () => {
    const blob = randomBlob(4096);
    fixture.addBlob(blob.desc.digest, blob.bytes, randomBytes(4096));
    const error = await rejection(repository('cross').fetch(blob.desc).then(readStream));
    expect(isStowageError(error, 'DIGEST_MISMATCH')).toBe(true);
  });

  it('keeps the credentials on a redirect within the same origin', async () => {
    const blob = randomBlob(1000);
    fixture.addBlob(blob.desc.digest, blob.bytes);
    expect((await fetchAll(repository('same'), blob.desc)).equals(blob.bytes)).toBe(true);
    const internal = fixture.registryRequests.find((request) => request.url.startsWith('/internal/'));
    expect(internal?.headers.authorization).toMatch(/^Basic /);
  });

  it('does not send credentials again after a hop that left the origin, even back to it', async () => {
    const blob = randomBlob(1000);
    fixture.addBlob(blob.desc.digest, blob.bytes);
    await expectCode(repository('bounce').fetch(blob.desc), 'UNAUTHORIZED');
    const internal = fixture.registryRequests.find((request) => request.url.startsWith('/internal/'));
    expect(internal).toBeDefined();
    expect(internal?.headers.authorization).toBeUndefined();
  });

  it('gives up after 10 redirects', async () => {
    const blob = randomBlob(10);
    fixture.addBlob(blob.desc.digest, blob.bytes);
    const error = await rejection(repository('loop').fetch(blob.desc));
    expect(isStowageError(error, 'REGISTRY_ERROR')).toBe(true);
    expect(String(error)).toContain('more than 10 redirects');
  });
});
