/**
 * Resumed pulls against a real docker-registry: a pull interrupted halfway (abort, dropped connection) keeps
 * `.<name>.<hex12>.partial`, and the next pull asks only for the rest with `Range` (206), verifies the digest
 * over the whole file, and only then gives it its name. Also `RemoteRepository.fetchRange` against servers
 * that answer a range with 200, 416 or another range.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore, partialPathOf } from '../../src/content/file-store.js';
import { readAll } from '../../src/content/store.js';
import { copy, type CopyHooks } from '../../src/copy/copy.js';
import { isStowageError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { pullSuccessors } from '../../src/pack/pull-successors.js';
import { HttpClient, type HttpExchangeEvent } from '../../src/registry/http.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import { startStallProxy } from '../../e2e/helpers/stall-proxy.js';
import { listTree, mebibyte, pushFiles, sha256File, temporariesIn, writeRandomFile } from '../helpers/artifacts.js';
import { uniqueRepository, useRegistry } from '../helpers/registry-harness.js';
import { expectCode } from '../helpers/store-contract.js';

const registry = useRegistry();
const size = 64 * mebibyte;

let sandbox: string;
let src: string;
let out: string;

beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'stowage-pull-resume-'));
  src = join(sandbox, 'src');
  out = join(sandbox, 'out');
  await mkdir(src);
});

afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

/** A repository whose HTTP exchanges are recorded (request headers, answer statuses). */
function watched(repository: string, host = registry().host): { repo: RemoteRepository; exchanges: HttpExchangeEvent[] } {
  const exchanges: HttpExchangeEvent[] = [];
  const client = new HttpClient({ onExchange: (event) => exchanges.push(event) });
  return { repo: new RemoteRepository({ registry: host, repository, client }), exchanges };
}

/** `stowage pull` through the library, into a FileStore with `resume`. */
async function pullResumable(repo: RemoteRepository, hooks: CopyHooks & { signal?: AbortSignal } = {}): Promise<Descriptor> {
  const store = new FileStore(out, { resume: true });
  try {
    return await copy(repo, 'v1', store, undefined, { successors: pullSuccessors, ...hooks });
  } finally {
    await store.close();
  }
}

/** The blob GETs recorded: the Range asked for (if any) and the status of the answer. */
function blobGets(exchanges: HttpExchangeEvent[], digest: string): { range: string | undefined; status: number | undefined }[] {
  return exchanges
    .filter((event) => event.kind === 'request' && event.method === 'GET' && event.url.endsWith(`/blobs/${digest}`))
    .map((request) => {
      const answer = exchanges.find((event) => event.kind === 'response' && event.id === request.id);
      const range = request.kind === 'request' ? request.headers.range : undefined;
      return { range: typeof range === 'string' ? range : undefined, status: answer?.kind === 'response' ? answer.status : undefined };
    });
}

/** The sha256 digest of the first `length` bytes of a file. */
async function prefixDigest(path: string, length: number): Promise<string> {
  return digestOf((await readFile(path)).subarray(0, length));
}

async function pushBig(): Promise<{ repository: string; digest: string }> {
  const digest = await writeRandomFile(join(src, 'big.bin'), size);
  const repository = uniqueRepository('resume');
  await pushFiles(new RemoteRepository({ registry: registry().host, repository }), 'v1', src, ['big.bin']);
  return { repository, digest };
}

describe('an interrupted pull resumes with Range', () => {
  it('aborted halfway: keeps the partial; the next pull fetches only the rest (206) and verifies the whole', async () => {
    const { repository, digest } = await pushBig();
    const controller = new AbortController();
    const first = watched(repository);
    const aborted = await pullResumable(first.repo, {
      signal: controller.signal,
      onProgress: (desc, transferred) => {
        if (desc.digest === digest && transferred >= size / 2) controller.abort();
      },
    }).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    expect(isStowageError(aborted, 'ABORTED'), String(aborted)).toBe(true);

    const kept = partialPathOf(join(out, 'big.bin'), digest);
    const keptSize = (await stat(kept)).size;
    // The chunks counted but still in flight between the streams when the abort came are not on disk.
    expect(keptSize).toBeGreaterThan(0.45 * size);
    expect(keptSize).toBeLessThan(size);
    // What was kept is the start of the blob, byte for byte.
    expect(await prefixDigest(kept, keptSize)).toBe(await prefixDigest(join(src, 'big.bin'), keptSize));
    expect(await listTree(out)).toEqual([kept.slice(out.length + 1)]);

    const second = watched(repository);
    const resumedAt: number[] = [];
    let last = 0;
    await pullResumable(second.repo, {
      onResumed: (_desc, offset) => resumedAt.push(offset),
      onProgress: (desc, transferred) => {
        if (desc.digest === digest) last = transferred;
      },
    });
    expect(resumedAt).toEqual([keptSize]);
    expect(blobGets(second.exchanges, digest)).toEqual([{ range: `bytes=${keptSize}-`, status: 206 }]);
    expect(last).toBe(size);
    // The second pull moved less than 60% of the blob.
    expect(size - keptSize).toBeLessThan(0.6 * size);
    expect(await sha256File(join(out, 'big.bin'))).toBe(digest);
    expect(await listTree(out)).toEqual(['big.bin']);
  });

  it('a connection dropped mid-download: keeps what arrived, and the next pull resumes from there', async () => {
    const { repository, digest } = await pushBig();
    const port = Number(registry().host.split(':').at(-1));
    const proxy = await startStallProxy(port, 16 * mebibyte);
    let failure: unknown;
    try {
      const pulling = pullResumable(watched(repository, proxy.host).repo).then(
        () => undefined,
        (error: unknown) => error,
      );
      await Promise.race([proxy.stalled, pulling]);
      // The transfer is held mid-blob: drop every connection, as a network failure does.
      await proxy.close();
      failure = await pulling;
    } finally {
      await proxy.close();
    }
    expect(isStowageError(failure, 'NETWORK'), String(failure)).toBe(true);
    const kept = partialPathOf(join(out, 'big.bin'), digest);
    const keptSize = (await stat(kept)).size;
    // Bytes still in the socket's buffers when the connection is reset are lost; what reached the file stays.
    expect(keptSize).toBeGreaterThan(0);
    expect(await prefixDigest(kept, keptSize)).toBe(await prefixDigest(join(src, 'big.bin'), keptSize));

    const second = watched(repository);
    await pullResumable(second.repo);
    expect(blobGets(second.exchanges, digest)).toEqual([{ range: `bytes=${keptSize}-`, status: 206 }]);
    expect(await sha256File(join(out, 'big.bin'))).toBe(digest);
    expect(await listTree(out)).toEqual(['big.bin']);
  });

  it('a kept file that is not the start of the blob: the digest fails, it is dropped, and the blob fetched again once', async () => {
    const { repository, digest } = await pushBig();
    const kept = partialPathOf(join(out, 'big.bin'), digest);
    await mkdir(out);
    await writeFile(kept, randomBytes(mebibyte));
    const { repo, exchanges } = watched(repository);
    await pullResumable(repo);
    expect(blobGets(exchanges, digest)).toEqual([
      { range: `bytes=${mebibyte}-`, status: 206 },
      { range: undefined, status: 200 },
    ]);
    expect(await sha256File(join(out, 'big.bin'))).toBe(digest);
    expect(await listTree(out)).toEqual(['big.bin']);
  });

  it('a tampered blob in the registry fails with DIGEST_MISMATCH: nothing under the final name, nothing kept', async () => {
    const { repository, digest } = await pushBig();
    const hex = digest.slice('sha256:'.length);
    const stored = join(registry().storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const bytes = await readFile(stored);
    bytes[size - 1] = (bytes[size - 1] ?? 0) ^ 0xff;
    await writeFile(stored, bytes);
    await expectCode(pullResumable(watched(repository).repo), 'DIGEST_MISMATCH');
    expect(await listTree(out).catch(() => [])).toEqual([]);
    expect(await temporariesIn(sandbox)).toEqual([]);
  });
});

describe('RemoteRepository.fetchRange', () => {
  it('asks the registry for the rest (206) and checks its length', async () => {
    const { repository, digest } = await pushBig();
    const repo = new RemoteRepository({ registry: registry().host, repository });
    const desc: Descriptor = { mediaType: MediaType.ociLayer, digest, size };
    const whole = await readFile(join(src, 'big.bin'));
    const { offset, content } = await repo.fetchRange(desc, size - 1000);
    expect(offset).toBe(size - 1000);
    expect(Buffer.from(await readAll(content, size, 'rest')).equals(whole.subarray(size - 1000))).toBe(true);
    const empty = await repo.fetchRange(desc, size);
    expect(empty.offset).toBe(size);
    expect((await readAll(empty.content, 1, 'empty')).byteLength).toBe(0);
    await expectCode(repo.fetchRange(desc, size + 1), 'INVALID_ARGUMENT');
    await expectCode(repo.fetchRange({ ...desc, mediaType: MediaType.ociManifest }, 10), 'INVALID_ARGUMENT');
  });

  describe('against servers that do not serve the range asked for', () => {
    const blob = randomBytes(100_000);
    const desc: Descriptor = { mediaType: MediaType.ociLayer, digest: `sha256:${createHash('sha256').update(blob).digest('hex')}`, size: blob.byteLength };
    let server: Server | undefined;

    afterEach(async () => {
      await new Promise((resolve) => server?.close(resolve));
      server = undefined;
    });

    /** A blob server that answers a `Range` request as `answer` says. */
    async function serve(answer: 'ignore' | '416' | 'other-range' | 'short'): Promise<RemoteRepository> {
      server = createServer((req, res) => {
        const range = req.headers.range;
        if (range === undefined || answer === 'ignore') {
          res.writeHead(200, { 'content-length': String(blob.byteLength), 'content-type': 'application/octet-stream' }).end(blob);
        } else if (answer === '416') {
          res.writeHead(416, { 'content-range': `bytes */${blob.byteLength}` }).end();
        } else if (answer === 'other-range') {
          res.writeHead(206, { 'content-range': `bytes 0-${blob.byteLength - 1}/${blob.byteLength}`, 'content-length': String(blob.byteLength) }).end(blob);
        } else {
          const start = Number(/bytes=(\d+)-/.exec(range)?.[1]);
          const rest = blob.subarray(start, blob.byteLength - 10);
          res.writeHead(206, { 'content-range': `bytes ${start}-${blob.byteLength - 1}/${blob.byteLength}`, 'content-length': String(rest.byteLength) }).end(rest);
        }
      });
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      if (address === null || typeof address !== 'object') throw new Error('no port');
      return new RemoteRepository({ registry: `127.0.0.1:${address.port}`, repository: 'r' });
    }

    it.each(['ignore', '416', 'other-range'] as const)('%s: the whole blob, verified, from offset 0', async (answer) => {
      const repo = await serve(answer);
      const { offset, content } = await repo.fetchRange(desc, 5000);
      expect(offset).toBe(0);
      expect(Buffer.from(await readAll(content, blob.byteLength, 'blob')).equals(blob)).toBe(true);
    });

    it('a 206 with fewer bytes than the rest fails with SIZE_MISMATCH', async () => {
      const repo = await serve('short');
      const { offset, content } = await repo.fetchRange(desc, 5000);
      expect(offset).toBe(5000);
      await expectCode(readAll(content, blob.byteLength, 'rest'), 'SIZE_MISMATCH');
    });
  });
});
