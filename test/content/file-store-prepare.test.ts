/**
 * FileStore.prepareFor starts the hashing thread ahead of a large blob, so that its boot overlaps the
 * requests before the blob's first bytes; small blobs and manifests are hashed inline and start nothing.
 * In a file of its own: the thread is per process (per test file here), and another test's pull of a
 * large blob would have started it already.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/content/file-store.js';
import { MediaType } from '../../src/oci/media-types.js';
import { hashWorkerRunning, threadedHashMinimumBytes } from '../../src/oci/threaded-hasher.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

const digest = `sha256:${'ab'.repeat(32)}`;

describe('FileStore.prepareFor', () => {
  it('starts the hashing thread for a blob hashed on it, and not for small blobs or manifests', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'stowage-prepare-'));
    dirs.push(dir);
    const store = new FileStore(dir);
    expect(hashWorkerRunning()).toBe(false);
    store.prepareFor([
      { mediaType: MediaType.ociLayer, digest, size: threadedHashMinimumBytes - 1 },
      { mediaType: MediaType.ociManifest, digest, size: threadedHashMinimumBytes * 2 },
    ]);
    expect(hashWorkerRunning()).toBe(false);
    store.prepareFor([{ mediaType: MediaType.ociLayer, digest, size: threadedHashMinimumBytes }]);
    expect(hashWorkerRunning()).toBe(true);
  });
});
