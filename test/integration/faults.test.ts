/**
 * Pushes and pulls of a 64 MiB blob through the fault proxy (test/helpers/fault-proxy.ts) in front of a real
 * docker-registry: answers of 503, 500 and 429 (with Retry-After), a reset before the answer and a stall
 * are retried by HttpClient, and every result is compared byte for byte; a body lost mid-stream (truncated,
 * reset, stalled) fails the pull with a NETWORK error naming the bytes received, and leaves no file under
 * its final name. Delays and timeouts are short so the suite stays fast.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { HttpClient, type HttpClientOptions, type HttpRetryEvent } from '../../src/registry/http.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import { listTree, mebibyte, pullFiles, pushFiles, sha256File, writeRandomFile } from '../helpers/artifacts.js';
import { startFaultProxy, type FaultProxy, type FaultRule, type ProxiedExchange } from '../helpers/fault-proxy.js';
import { uniqueRepository, useRegistry } from '../helpers/registry-harness.js';
import { rejection } from '../helpers/store-contract.js';

const registry = useRegistry();

const blobSize = 64 * mebibyte;
const fileName = 'model.bin';

let proxy: FaultProxy;
let sandbox: string;
let fileDigest: string;
/** A repository holding the 64 MiB file under `v1`, pushed straight to the registry, for the pull tests. */
let pullSource: { name: string; layer: Descriptor };

/** A client with short delays and timeouts that records its retries. */
function clientFor(events: HttpRetryEvent[], options: HttpClientOptions = {}): HttpClient {
  return new HttpClient({
    retry: { baseDelayMs: 20, maxDelayMs: 200 },
    headersTimeoutMs: 1_000,
    bodyTimeoutMs: 1_000,
    onRetry: (event) => events.push(event),
    ...options,
  });
}

/** A repository reached through the proxy. */
function throughProxy(name: string, client: HttpClient): RemoteRepository {
  return new RemoteRepository({ registry: proxy.host, repository: name, client });
}

/** A repository reached directly. */
function direct(name: string): RemoteRepository {
  return new RemoteRepository({ registry: registry().host, repository: name });
}

async function freshDir(label: string): Promise<string> {
  const dir = join(sandbox, `${label}-${Math.random().toString(36).slice(2, 8)}`);
  await mkdir(dir);
  return dir;
}

/** Pulls `name:v1` straight from the registry and checks the file byte for byte. */
async function expectPushed(name: string): Promise<void> {
  const out = await freshDir('verify');
  await pullFiles(direct(name), 'v1', out);
  expect(await listTree(out)).toEqual([fileName]);
  expect(await sha256File(join(out, fileName))).toBe(fileDigest);
}

function exchangesOf(method: string, path: RegExp): ProxiedExchange[] {
  return proxy.exchanges.filter((exchange) => exchange.method === method && path.test(exchange.path.split('?')[0] ?? ''));
}

/** The bytes that went up through the proxy: the blob once, plus a few hundred bytes of config and manifest. */
function expectUploadedOnce(): void {
  expect(proxy.bytes.up).toBeGreaterThanOrEqual(blobSize);
  expect(proxy.bytes.up).toBeLessThan(blobSize + 64 * 1024);
}

const uploadPost = /\/blobs\/uploads\/$/;
const manifestPath = /\/manifests\/[^/]+$/;
const blobHead = /\/blobs\/sha256:[0-9a-f]{64}$/;

beforeAll(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'stowage-faults-'));
  await mkdir(join(sandbox, 'src'));
  fileDigest = await writeRandomFile(join(sandbox, 'src', fileName), blobSize);
  proxy = await startFaultProxy(registry().url);
  const name = uniqueRepository('faults-pull');
  const pushed = await pushFiles(direct(name), 'v1', join(sandbox, 'src'), [fileName]);
  const layer = pushed.layers[0];
  if (layer === undefined) throw new Error('no layer pushed');
  pullSource = { name, layer };
});

afterAll(async () => {
  await proxy.stop();
  await rm(sandbox, { recursive: true, force: true });
});

beforeEach(() => {
  proxy.reset();
});

describe('push of a 64 MiB blob through faults', () => {
  async function pushThrough(rules: FaultRule[], options: HttpClientOptions = {}): Promise<{ name: string; events: HttpRetryEvent[] }> {
    proxy.script(rules);
    const events: HttpRetryEvent[] = [];
    const name = uniqueRepository('faults-push');
    await pushFiles(throughProxy(name, clientFor(events, options)), 'v1', join(sandbox, 'src'), [fileName], { concurrency: 1 });
    return { name, events };
  }

  it('retries the upload POST after 503s', async () => {
    const { name, events } = await pushThrough([{ method: 'POST', path: uploadPost, count: 2, fault: { kind: 'status', status: 503 } }]);
    const posts = exchangesOf('POST', uploadPost);
    // Two blobs (the empty config and the file), two 503s on the way.
    expect(posts.map((exchange) => exchange.status)).toEqual([503, 503, 202, 202].slice(0, posts.length));
    expect(posts.filter((exchange) => exchange.status === 503)).toHaveLength(2);
    expect(posts).toHaveLength(4);
    expect(events.filter((event) => event.status === 503)).toHaveLength(2);
    expectUploadedOnce();
    await expectPushed(name);
  });

  it('retries the manifest PUT after a 500', async () => {
    const { name, events } = await pushThrough([{ method: 'PUT', path: manifestPath, fault: { kind: 'status', status: 500 } }]);
    expect(exchangesOf('PUT', manifestPath).map((exchange) => exchange.status)).toEqual([500, 201]);
    expect(events).toMatchObject([{ method: 'PUT', status: 500, attempt: 1 }]);
    expectUploadedOnce();
    await expectPushed(name);
  });

  it('sends a manifest refused with MANIFEST_BLOB_UNKNOWN once more (docker-registry under racing uploads), and only once', async () => {
    const unknown: FaultRule = { method: 'PUT', path: manifestPath, fault: { kind: 'status', status: 400, errorCode: 'MANIFEST_BLOB_UNKNOWN' } };
    const { name } = await pushThrough([unknown]);
    expect(exchangesOf('PUT', manifestPath).map((exchange) => exchange.status)).toEqual([400, 201]);
    await expectPushed(name);

    proxy.reset();
    const failure = await rejection(pushThrough([{ ...unknown, count: 2 }]));
    expect(isStowageError(failure, 'REGISTRY_ERROR')).toBe(true);
    expect(failure).toMatchObject({ registryCodes: ['MANIFEST_BLOB_UNKNOWN'] });
    expect(exchangesOf('PUT', manifestPath).map((exchange) => exchange.status)).toEqual([400, 400]);

    // Any other 400 is not sent again.
    proxy.reset();
    await rejection(pushThrough([{ method: 'PUT', path: manifestPath, fault: { kind: 'status', status: 400, errorCode: 'MANIFEST_INVALID' } }]));
    expect(exchangesOf('PUT', manifestPath).map((exchange) => exchange.status)).toEqual([400]);
  });

  it('waits as long as a 429 on a HEAD asks with Retry-After: 1', async () => {
    const { name, events } = await pushThrough([{ method: 'HEAD', path: blobHead, fault: { kind: 'status', status: 429, retryAfter: '1' } }]);
    const heads = exchangesOf('HEAD', blobHead);
    const limited = heads.find((exchange) => exchange.status === 429);
    if (limited?.endedAt === undefined) throw new Error('no 429 was answered');
    const next = heads.find((exchange) => exchange.path === limited.path && exchange.receivedAt > limited.receivedAt);
    if (next === undefined) throw new Error('the HEAD was not retried');
    const waited = next.receivedAt - limited.endedAt;
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(2_500);
    expect(events).toMatchObject([{ method: 'HEAD', status: 429, delayMs: 1_000 }]);
    expectUploadedOnce();
    await expectPushed(name);
  });

  it('retries a HEAD that stalls past the headers timeout', async () => {
    const started = performance.now();
    const { name, events } = await pushThrough([{ method: 'HEAD', path: blobHead, fault: { kind: 'stall', ms: 10_000 } }], { headersTimeoutMs: 500 });
    const heads = exchangesOf('HEAD', blobHead);
    const stalled = heads.find((exchange) => exchange.fault === 'stall');
    if (stalled === undefined) throw new Error('no HEAD stalled');
    expect(heads.filter((exchange) => exchange.path === stalled.path).length).toBeGreaterThanOrEqual(2);
    expect(events).toMatchObject([{ method: 'HEAD', attempt: 1 }]);
    expect(events[0]?.reason).toMatch(/Headers Timeout/);
    // Well under the 10 s stall: the timeout (undici's timers tick about every 0.5 s) cut it short.
    expect(performance.now() - started).toBeLessThan(8_000);
    expectUploadedOnce();
    await expectPushed(name);
  });
});

describe('pull of a 64 MiB blob through faults', () => {
  const layerPath = (): RegExp => new RegExp(`/blobs/${pullSource.layer.digest}$`);

  async function pullThrough(rules: FaultRule[], out: string, options: HttpClientOptions = {}): Promise<HttpRetryEvent[]> {
    proxy.script(rules);
    const events: HttpRetryEvent[] = [];
    await pullFiles(throughProxy(pullSource.name, clientFor(events, options)), 'v1', out);
    return events;
  }

  it('retries a blob GET reset before any byte', async () => {
    const out = await freshDir('pull-reset');
    const events = await pullThrough([{ method: 'GET', path: layerPath(), fault: { kind: 'reset' } }], out);
    expect(exchangesOf('GET', layerPath()).map((exchange) => exchange.fault ?? exchange.status)).toEqual(['reset', 200]);
    expect(events).toMatchObject([{ method: 'GET', attempt: 1 }]);
    expect(events[0]?.reason).toMatch(/ECONNRESET|other side closed/);
    expect(await listTree(out)).toEqual([fileName]);
    expect(await sha256File(join(out, fileName))).toBe(fileDigest);
    // The blob came down once.
    expect(proxy.bytes.down).toBeGreaterThanOrEqual(blobSize);
    expect(proxy.bytes.down).toBeLessThan(blobSize + 64 * 1024);
  });

  it('retries a manifest GET that stalls, then a 503 on it, and a 502 on the blob GET', async () => {
    const out = await freshDir('pull-statuses');
    const events = await pullThrough(
      [
        { method: 'GET', path: manifestPath, fault: { kind: 'stall', ms: 10_000 } },
        { method: 'GET', path: manifestPath, nth: 2, fault: { kind: 'status', status: 503 } },
        { method: 'GET', path: layerPath(), fault: { kind: 'status', status: 502 } },
      ],
      out,
      { headersTimeoutMs: 500 },
    );
    expect(events.map((event) => `${event.method} ${event.status ?? 'timeout'}`)).toEqual(['GET timeout', 'GET 503', 'GET 502']);
    expect(await sha256File(join(out, fileName))).toBe(fileDigest);
  });

  // The pull-resume work will turn these into resumed pulls (Range from the bytes received); until then
  // they must fail at once, saying how far they got, and leave no file under its final name.
  it.each([
    ['truncated', { kind: 'truncate', afterBytes: 8 * mebibyte }, /other side closed/],
    ['reset', { kind: 'reset', afterBytes: 8 * mebibyte }, /ECONNRESET|other side closed/],
    ['stalled', { kind: 'stall', afterBytes: 8 * mebibyte, ms: 10_000 }, /no data for 1 s \(UND_ERR_BODY_TIMEOUT\)/],
  ] as const)('fails a blob GET %s mid-body with NETWORK naming the bytes received', async (_label, fault, reason) => {
    const out = await freshDir('pull-cut');
    const started = performance.now();
    proxy.script([{ method: 'GET', path: layerPath(), fault }]);
    const events: HttpRetryEvent[] = [];
    const error = await rejection(pullFiles(throughProxy(pullSource.name, clientFor(events)), 'v1', out));
    expect(isStowageError(error, 'NETWORK'), String(error)).toBe(true);
    const message = String(error);
    expect(message).toContain(`fetch blob ${proxy.host}/${pullSource.name}@${pullSource.layer.digest}: connection lost after `);
    const match = /connection lost after (\d+) of (\d+) bytes/.exec(message);
    expect(match?.[2]).toBe(String(blobSize));
    // What the client had taken when the connection went: at most what the proxy sent.
    expect(Number(match?.[1])).toBeLessThanOrEqual(8 * mebibyte);
    expect(Number(match?.[1])).toBeGreaterThan(0);
    expect(message).toMatch(reason);
    expect(performance.now() - started).toBeLessThan(8_000);
    expect(events).toEqual([]);
    expect(await listTree(out)).not.toContain(fileName);
    expect(proxy.bytes.down).toBeLessThanOrEqual(8 * mebibyte + 64 * 1024);
  });

  it('fails a direct blob fetch cut short in the same words (no pull machinery in between)', async () => {
    proxy.script([{ method: 'GET', path: layerPath(), fault: { kind: 'truncate', afterBytes: mebibyte } }]);
    const repo = throughProxy(pullSource.name, clientFor([]));
    const stream = await repo.fetch(pullSource.layer);
    let received = 0;
    const error = await rejection(
      (async () => {
        for await (const chunk of stream) if (chunk instanceof Uint8Array) received += chunk.byteLength;
      })(),
    );
    expect(isStowageError(error, 'NETWORK')).toBe(true);
    // The proxy sent 1 MiB and closed cleanly: all of it arrived; the reader may not have taken the last of it.
    expect(String(error)).toContain(`connection lost after ${mebibyte} of ${blobSize} bytes: other side closed`);
    expect(received).toBeLessThanOrEqual(mebibyte);
  });
});
