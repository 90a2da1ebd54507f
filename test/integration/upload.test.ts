/**
 * Uploads against a real docker-registry 2.8: a 64 MiB file in 8 MiB PATCH chunks, in-run recovery of
 * failed chunks (through the fault proxy of test/helpers/fault-proxy.ts, which also counts the bytes that go
 * up), one pass over the file (bytes read from /proc/self/io), the digest cache (a second push reads and
 * sends nothing), and resume across runs: a push in a child process killed between chunks continues from the
 * registry's offset; killed mid-PATCH, it starts over cleanly (docker-registry pins the offset in `_state`
 * and answers 404 for any other), as does a saved session the registry does not know.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DigestCache } from '../../src/content/digest-cache.js';
import { isStowageError } from '../../src/errors.js';
import { fileIdentity } from '../../src/content/file-identity.js';
import { FileStore } from '../../src/content/file-store.js';
import type { PushFileResult } from '../../src/content/store.js';
import { pushArtifact } from '../../src/pack/push-artifact.js';
import { HttpClient } from '../../src/registry/http.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import { UploadSessions } from '../../src/registry/upload-state.js';
import { mebibyte, pushFiles, writeRandomFile } from '../helpers/artifacts.js';
import { startFaultProxy, type FaultProxy, type ProxiedExchange } from '../helpers/fault-proxy.js';
import { uniqueRepository, useRegistry } from '../helpers/registry-harness.js';

const registry = useRegistry();

const size = 64 * mebibyte;
const chunkSize = 8 * mebibyte;
const root = fileURLToPath(new URL('../../', import.meta.url));
const child = join(root, 'test', 'helpers', 'push-file-child.js');

let sandbox: string;
let bigFile: string;
let bigDigest: string;
let proxy: FaultProxy;

/** Bytes this process has read so far (files and sockets alike), from /proc/self/io. */
function bytesReadByProcess(): number {
  const match = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
  if (match === null) throw new Error('no rchar in /proc/self/io');
  return Number(match[1]);
}

/** A client without retries below the upload engine: what the proxy does is what the engine sees. */
function quietClient(): HttpClient {
  return new HttpClient({ retry: { retries: 0 } });
}

function throughProxy(name: string): RemoteRepository {
  return new RemoteRepository({ registry: proxy.host, repository: name, client: quietClient() });
}

function direct(name: string): RemoteRepository {
  return new RemoteRepository({ registry: registry().host, repository: name });
}

/** The sha256 of the blob as the registry serves it (fetched directly, not through the proxy). */
async function servedDigest(name: string, digest: string): Promise<string> {
  const hash = createHash('sha256');
  const stream = await direct(name).fetch({ mediaType: 'application/octet-stream', digest, size });
  for await (const chunk of stream as AsyncIterable<Buffer>) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

/** The registry's access-log lines for `method` on the upload sessions of `name`. */
function uploadLog(name: string, method: string): string[] {
  return registry()
    .log()
    .split('\n')
    .filter((line) => line.includes(`"${method} /v2/${name}/blobs/uploads/`));
}

function exchanges(method: string): ProxiedExchange[] {
  return proxy.exchanges.filter((exchange) => exchange.method === method);
}

async function sessionFiles(state: string): Promise<{ offset: number; location: string }[]> {
  const dir = join(state, 'uploads');
  if (!existsSync(dir)) return [];
  const names = (await readdir(dir)).filter((name) => name.endsWith('.json'));
  return names.map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as { offset: number; location: string });
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

interface ChildRun {
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(): void;
}

function startChild(name: string, state: string, killAt?: number): ChildRun {
  if (!existsSync(join(root, 'dist', 'src', 'index.js'))) throw new Error('dist/ is missing: run "npm run build" first');
  const args = [child, proxy.host, name, bigFile, state, String(chunkSize), ...(killAt === undefined ? [] : [String(killAt)])];
  const process_ = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  process_.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  process_.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    process_.once('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    done,
    kill: () => {
      process_.kill('SIGKILL');
    },
  };
}

/** Waits until the file is old enough for the digest cache to trust it (2 s after its last change). */
async function settle(path: string): Promise<void> {
  const info = await stat(path);
  const wait = Math.max(info.mtimeMs, info.ctimeMs) + 2_100 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

beforeAll(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'stowage-upload-'));
  await mkdir(join(sandbox, 'src'));
  bigFile = join(sandbox, 'src', 'model.bin');
  bigDigest = await writeRandomFile(bigFile, size);
  proxy = await startFaultProxy(registry().url);
});

afterAll(async () => {
  await proxy.stop();
  await rm(sandbox, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.reset();
});

describe('chunked upload of a 64 MiB file', () => {
  it('goes up in 8 MiB PATCH chunks, each from the offset the registry acknowledged, closed by a PUT with the digest', async () => {
    const name = uniqueRepository('upload-chunked');
    const result = await throughProxy(name).pushFile(bigFile, { chunkSize });
    expect(result).toEqual({ descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: bigDigest, size }, outcome: 'uploaded', bytesRead: size, bytesSent: size, resumedFrom: 0 });
    // The registry served 8 PATCHes and one closing PUT with the digest; the bytes went up once.
    expect(uploadLog(name, 'PATCH')).toHaveLength(8);
    expect(uploadLog(name, 'PATCH').every((line) => line.includes('" 202 '))).toBe(true);
    const puts = uploadLog(name, 'PUT');
    expect(puts).toHaveLength(1);
    expect(puts[0]).toContain(`digest=${encodeURIComponent(bigDigest)}`);
    expect(exchanges('PATCH').map((exchange) => exchange.bytesUp)).toEqual(Array<number>(8).fill(chunkSize));
    expect(proxy.bytes.up).toBe(size);
    expect(await servedDigest(name, bigDigest)).toBe(bigDigest);
  });

  it('resends a chunk answered 500 and one reset mid-body from the offset GET <location> reports, in the same session', async () => {
    const name = uniqueRepository('upload-recover');
    proxy.script([
      { method: 'PATCH', path: /\/blobs\/uploads\//, nth: 3, fault: { kind: 'status', status: 500 } },
      { method: 'PATCH', path: /\/blobs\/uploads\//, nth: 6, fault: { kind: 'reset', afterBytes: 2 * mebibyte, of: 'request' } },
    ]);
    const result = await throughProxy(name).pushFile(bigFile, { chunkSize });
    expect(result.descriptor.digest).toBe(bigDigest);
    expect(result.resumedFrom).toBe(0);
    const patches = exchanges('PATCH');
    expect(patches.map((exchange) => exchange.fault ?? exchange.status)).toEqual([202, 202, 'status', 202, 202, 'reset', 202, 202, 202, 202]);
    // Each failure was followed by a status request, then the same chunk again; no second session.
    expect(exchanges('GET').map((exchange) => exchange.status)).toEqual([204, 204]);
    expect(exchanges('POST')).toHaveLength(1);
    // Up: the file, the chunk the 500 swallowed, and 2 MiB of the reset one.
    expect(proxy.bytes.up).toBe(size + chunkSize + 2 * mebibyte);
    expect(await servedDigest(name, bigDigest)).toBe(bigDigest);
  });

  it('starts over once with a new session when the registry lost it (404 on a PATCH)', async () => {
    const name = uniqueRepository('upload-lost');
    proxy.script([{ method: 'PATCH', path: /\/blobs\/uploads\//, nth: 4, fault: { kind: 'status', status: 404 } }]);
    const result = await throughProxy(name).pushFile(bigFile, { chunkSize });
    expect(result.descriptor.digest).toBe(bigDigest);
    expect(exchanges('POST')).toHaveLength(2);
    expect(exchanges('DELETE')).toHaveLength(1);
    expect(await servedDigest(name, bigDigest)).toBe(bigDigest);
  });
});

describe('one pass over the bytes', () => {
  it('push reads a file once (hashing while uploading); the two-pass path reads it twice', async () => {
    const name = uniqueRepository('upload-one-pass');
    const store = new FileStore(join(sandbox, 'src'));
    const results: PushFileResult[] = [];
    const before = bytesReadByProcess();
    try {
      await pushArtifact(direct(name), { store, files: [{ path: 'model.bin' }], tags: ['v1'], onFileDone: (_file, _desc, result) => results.push(result) });
    } finally {
      await store.close();
    }
    const onePass = bytesReadByProcess() - before;
    expect(results).toMatchObject([{ outcome: 'uploaded', bytesRead: size, bytesSent: size }]);
    expect(onePass).toBeGreaterThanOrEqual(size);
    expect(onePass).toBeLessThan(size + 4 * mebibyte);

    // The same push the classic way (FileStore.add hashes, copy reads again): twice the reading.
    const twoPassStart = bytesReadByProcess();
    await pushFiles(direct(uniqueRepository('upload-two-pass')), 'v1', join(sandbox, 'src'), ['model.bin']);
    expect(bytesReadByProcess() - twoPassStart).toBeGreaterThanOrEqual(2 * size);
  });
});

describe('pushArtifact', () => {
  it('fails on packing options that cannot work before any request', async () => {
    const store = new FileStore(join(sandbox, 'src'));
    try {
      const error = await pushArtifact(throughProxy(uniqueRepository('upload-early')), {
        store,
        files: [{ path: 'model.bin' }],
        config: { path: 'model.bin', mediaType: 'application/vnd.example.config+json' },
        pack: { imageSpec: 'v1.1' },
      }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isStowageError(error, 'INVALID_ARGUMENT'), String(error)).toBe(true);
    } finally {
      await store.close();
    }
    expect(proxy.exchanges).toEqual([]);
  });

  it('keeps the layers in the order given while they upload at once, with their titles and annotations', async () => {
    const dir = await mkdtemp(join(sandbox, 'order-'));
    const names = ['c.bin', 'a.bin', 'b.bin'];
    await Promise.all(names.map((file, index) => writeRandomFile(join(dir, file), (index + 1) * 5 * mebibyte)));
    const store = new FileStore(dir);
    const name = uniqueRepository('upload-order');
    try {
      const packed = await pushArtifact(direct(name), {
        store,
        files: names.map((path) => ({ path, annotations: { 'org.example.name': path } })),
        tags: ['v1', 'v2'],
        concurrency: 3,
      });
      const manifest = JSON.parse(Buffer.from(packed.bytes).toString('utf8')) as { layers: { annotations: Record<string, string>; size: number }[] };
      expect(manifest.layers.map((layer) => layer.annotations)).toEqual(names.map((path) => ({ 'org.opencontainers.image.title': path, 'org.example.name': path })));
      expect(manifest.layers.map((layer) => layer.size)).toEqual([5, 10, 15].map((n) => n * mebibyte));
      expect((await direct(name).resolve('v2')).digest).toBe(packed.descriptor.digest);
    } finally {
      await store.close();
    }
  });
});

describe('digest cache', () => {
  it('a second push of the same unchanged file reads none of it and uploads none of it', async () => {
    await settle(bigFile);
    const name = uniqueRepository('upload-cache');
    const state = await mkdtemp(join(sandbox, 'state-'));
    const push = async (): Promise<PushFileResult[]> => {
      const store = new FileStore(join(sandbox, 'src'));
      const results: PushFileResult[] = [];
      try {
        await pushArtifact(throughProxy(name), {
          store,
          files: [{ path: 'model.bin' }],
          tags: ['v1'],
          pack: { created: new Date('2024-01-01T00:00:00Z') },
          digestCache: await DigestCache.open(state),
          sessions: new UploadSessions(state),
          onFileDone: (_file, _desc, result) => results.push(result),
        });
      } finally {
        await store.close();
      }
      return results;
    };
    expect(await push()).toMatchObject([{ outcome: 'uploaded', bytesRead: size, bytesSent: size }]);
    expect(proxy.bytes.up).toBeGreaterThanOrEqual(size);

    proxy.reset();
    const before = bytesReadByProcess();
    expect(await push()).toEqual([{ descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: bigDigest, size }, outcome: 'exists', bytesRead: 0, bytesSent: 0, resumedFrom: 0 }]);
    // Nothing of the file was read (the process read a few KiB of answers) and nothing went up but requests.
    expect(bytesReadByProcess() - before).toBeLessThan(256 * 1024);
    expect(proxy.bytes.up).toBeLessThan(4 * 1024);
    expect(exchanges('POST')).toHaveLength(0);
    expect(exchanges('HEAD').length).toBeGreaterThanOrEqual(1);
  });

  it('a small file whose cached digest another repository lacks costs one HEAD there, and is hashed once', async () => {
    const small = join(sandbox, 'src', 'small-cached.bin');
    await writeRandomFile(small, 2 * mebibyte);
    await settle(small);
    const state = await mkdtemp(join(sandbox, 'state-'));
    const cache = await DigestCache.open(state);
    const first = await throughProxy(uniqueRepository('upload-cache-a')).pushFile(small, { digestCache: cache });
    expect(first.outcome).toBe('uploaded');

    proxy.reset();
    expect(cache.get(small, fileIdentity(await stat(small, { bigint: true })))).toBe(first.descriptor.digest);
    const second = await throughProxy(uniqueRepository('upload-cache-b')).pushFile(small, { digestCache: cache });
    expect(second).toMatchObject({ descriptor: first.descriptor, outcome: 'uploaded', bytesSent: 2 * mebibyte });
    // The HEAD for the cached digest answered 404: the same digest is not asked about again after hashing.
    expect(proxy.exchanges.map((exchange) => exchange.method)).toEqual(['HEAD', 'POST', 'PUT']);
  });
});

describe('connections', () => {
  it('a push of 12 small files keeps its connections open: its 39 requests go over a handful of connections', async () => {
    const dir = await mkdtemp(join(sandbox, 'many-'));
    const names = Array.from({ length: 12 }, (_, i) => `part-${i}.bin`);
    for (const name of names) await writeRandomFile(join(dir, name), 64 * 1024);
    proxy.reset();
    await pushFiles(throughProxy(uniqueRepository('upload-keepalive')), 'v1', dir, names, { concurrency: 3 });
    // Every blob (the 12 files and the empty config) was new: asked about, then uploaded.
    expect(exchanges('HEAD').filter((exchange) => exchange.path.includes('/blobs/sha256:'))).toHaveLength(13);
    expect(exchanges('PUT').filter((exchange) => exchange.path.includes('/blobs/uploads/'))).toHaveLength(13);
    // undici closes a connection after a HEAD unless told otherwise: that was 25 connections for these 39
    // requests. Now: the 3 transfers at once, and a few undici opens while an answer is still finishing.
    expect(proxy.connections).toBeLessThanOrEqual(6);
  });
});

describe('resume across runs', () => {
  it('a push killed between chunks continues from the registry offset: the second run sends less than 60%', async () => {
    const name = uniqueRepository('upload-resume');
    const state = await mkdtemp(join(sandbox, 'state-'));
    // The child kills itself as it is about to send the chunk at 32 MiB: four chunks acknowledged and saved.
    const first = await startChild(name, state, size / 2).done;
    expect(first.signal, first.stderr).toBe('SIGKILL');
    expect((await sessionFiles(state)).map((session) => session.offset)).toEqual([size / 2]);
    const firstRunBytes = proxy.bytes.up;
    expect(firstRunBytes).toBe(size / 2);

    proxy.reset();
    const repo = throughProxy(name);
    const result = await repo.pushFile(bigFile, { chunkSize, sessions: new UploadSessions(state) });
    expect(result).toMatchObject({ descriptor: { digest: bigDigest, size }, outcome: 'uploaded', resumedFrom: size / 2, bytesSent: size / 2 });
    // The prefix was hashed from the file (read locally), not sent.
    expect(result.bytesRead).toBe(size);
    expect(proxy.bytes.up).toBeLessThan(0.6 * size);
    expect(proxy.bytes.up).toBe(size / 2);
    expect(proxy.exchanges.map((exchange) => exchange.method)).toEqual(['GET', 'PATCH', 'PATCH', 'PATCH', 'PATCH', 'PUT']);
    expect(await sessionFiles(state)).toEqual([]);
    expect(await servedDigest(name, bigDigest)).toBe(bigDigest);
  });

  it('a push killed mid-PATCH starts over cleanly: docker-registry refuses a session whose last request was cut', async () => {
    const name = uniqueRepository('upload-cut');
    const state = await mkdtemp(join(sandbox, 'state-'));
    const run = startChild(name, state);
    // Kill it while a PATCH is on its way, its first megabyte already forwarded to the registry.
    await waitFor(() => exchanges('PATCH').some((exchange) => exchange.status === undefined && exchange.bytesUp >= mebibyte && exchange.receivedAt > 0 && proxy.bytes.up >= 3 * chunkSize), 'a PATCH in flight past 24 MiB');
    run.kill();
    const first = await run.done;
    expect(first.signal).toBe('SIGKILL');
    const saved = await sessionFiles(state);
    expect(saved).toHaveLength(1);

    proxy.reset();
    const result = await throughProxy(name).pushFile(bigFile, { chunkSize, sessions: new UploadSessions(state) });
    expect(result.descriptor.digest).toBe(bigDigest);
    // The saved Location carries the offset before the cut chunk; the registry holds more, and says 404.
    expect(result.resumedFrom).toBe(0);
    expect(proxy.exchanges.slice(0, 2).map((exchange) => `${exchange.method} ${exchange.status ?? ''}`)).toEqual(['GET 404', 'POST 202']);
    expect(registry().log()).toContain('upload resumed at wrong offest');
    expect(result.bytesSent).toBe(size);
    expect(await sessionFiles(state)).toEqual([]);
    expect(await servedDigest(name, bigDigest)).toBe(bigDigest);
  });

  it('a saved session the registry does not know (a dead Location) starts over cleanly', async () => {
    const name = uniqueRepository('upload-stale');
    const state = await mkdtemp(join(sandbox, 'state-'));
    const sessions = new UploadSessions(state);
    const identity = fileIdentity(await stat(bigFile, { bigint: true }));
    const base = new URL(`http://${proxy.host}/`).href;
    await sessions.save(
      { registry: base, repository: name, path: bigFile, identity },
      new URL(`${base}v2/${name}/blobs/uploads/00000000-0000-0000-0000-000000000000?_state=c3RhbGU%3D`),
      16 * mebibyte,
    );
    const result = await throughProxy(name).pushFile(bigFile, { chunkSize, sessions: new UploadSessions(state) });
    expect(result).toMatchObject({ descriptor: { digest: bigDigest }, resumedFrom: 0, bytesSent: size });
    expect(proxy.exchanges.slice(0, 2).map((exchange) => `${exchange.method} ${exchange.status ?? ''}`)).toEqual(['GET 404', 'POST 202']);
    expect(await sessionFiles(state)).toEqual([]);
    expect(await servedDigest(name, bigDigest)).toBe(bigDigest);
  });
});
