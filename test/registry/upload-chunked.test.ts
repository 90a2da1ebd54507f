/**
 * The chunked upload engine against an in-process fake registry that behaves as docker-registry 2.8 does
 * (FACTS.md): `Range: 0-<last>` without `bytes=` (or with it, on request), a new `Location` with `_state`
 * per answer, Content-Range ignored and bytes appended, a stale `_state` answered 404, a wrong digest on the
 * closing PUT answered 400 DIGEST_INVALID. Each test scripts faults into it and checks what the client did;
 * `uploadFile` is checked against it too (small files, the digest cache, a file that changes while read).
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DigestCache } from '../../src/content/digest-cache.js';
import { fileIdentity } from '../../src/content/file-identity.js';
import { isStowageError } from '../../src/errors.js';
import { HttpClient } from '../../src/registry/http.js';
import { bytesSource, chunkedUpload, uploadBlob, type RepositoryEndpoint } from '../../src/registry/upload.js';
import { uploadFile } from '../../src/registry/upload-file.js';
import { rejection } from '../helpers/store-contract.js';

const mebibyte = 1024 * 1024;

interface Session {
  data: Buffer[];
  size: number;
}

/** A request the fake saw: method, path and query, Content-Range and body length. */
interface Seen {
  method: string;
  url: string;
  contentRange?: string;
  contentLength?: string;
  contentType?: string;
  bodyBytes: number;
  status: number;
}

/** What the next matching request gets instead of the normal answer. */
type Fault =
  /** Answer this status without looking at the body. */
  | { kind: 'status'; status: number }
  /** Keep only this many bytes of the body, then answer normally (a registry that took part of a chunk). */
  | { kind: 'keep'; bytes: number }
  /** Destroy the connection once the body is read (the answer is lost; the bytes were kept). */
  | { kind: 'drop-after-store' };

interface Fake {
  url: string;
  seen: Seen[];
  sessions: Map<string, Session>;
  blobs: Map<string, Buffer>;
  /** Faults by `<METHOD> <n>`: the n-th request of that method (1-based). */
  faults: Map<string, Fault>;
  /**
   * `bytesPrefix`: answer `Range: bytes=0-N`. `trackedSessions`: sessions are known by their id whatever the
   * `_state` says (as zot and others keep them), instead of docker-registry's 404 for a stale `_state`.
   * `readSlowly`: take request bodies slowly, so the client's writes wait on its socket.
   */
  options: { bytesPrefix: boolean; trackedSessions: boolean; minChunkLength?: number; readSlowly?: boolean };
  reset(): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage, slowly: boolean): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // A registry slower than the client: the socket's buffers fill up, and the client's writes wait for 'drain'.
  if (slowly) await new Promise((resolve) => setTimeout(resolve, 100));
  for await (const chunk of req as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    if (slowly) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return Buffer.concat(chunks);
}

async function startFake(): Promise<Fake> {
  const seen: Seen[] = [];
  const sessions = new Map<string, Session>();
  const blobs = new Map<string, Buffer>();
  const faults = new Map<string, Fault>();
  const counts = new Map<string, number>();
  const options: Fake['options'] = { bytesPrefix: false, trackedSessions: false };
  let next = 0;
  let origin = '';

  const range = (size: number): string => `${options.bytesPrefix ? 'bytes=' : ''}0-${Math.max(0, size - 1)}`;
  const location = (id: string, size: number): string => `${origin}/v2/app/blobs/uploads/${id}?_state=${size}`;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', origin);
    const count = (counts.get(method) ?? 0) + 1;
    counts.set(method, count);
    const fault = faults.get(`${method} ${count}`);
    const body = await readBody(req, options.readSlowly === true);
    const record: Seen = {
      method,
      url: `${url.pathname}${url.search}`,
      bodyBytes: body.byteLength,
      status: 0,
      ...(req.headers['content-range'] === undefined ? {} : { contentRange: req.headers['content-range'] }),
      ...(req.headers['content-length'] === undefined ? {} : { contentLength: req.headers['content-length'] }),
      ...(req.headers['content-type'] === undefined ? {} : { contentType: req.headers['content-type'] }),
    };
    seen.push(record);
    const answer = (status: number, headers: Record<string, string> = {}, text = ''): void => {
      record.status = status;
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(text)), ...headers }).end(text);
    };
    if (fault?.kind === 'status') {
      answer(fault.status, { 'content-type': 'application/json' }, JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected ${fault.status}` }] }));
      return;
    }
    const blobMatch = /^\/v2\/app\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blobMatch !== null && method === 'HEAD') {
      answer(blobs.has(blobMatch[1] ?? '') ? 200 : 404);
      return;
    }
    if (url.pathname === '/v2/app/blobs/uploads/' && method === 'POST') {
      const id = `u${++next}`;
      sessions.set(id, { data: [], size: 0 });
      const headers: Record<string, string> = { location: location(id, 0), range: '0-0' };
      if (options.minChunkLength !== undefined) headers['oci-chunk-min-length'] = String(options.minChunkLength);
      answer(202, headers);
      return;
    }
    const sessionMatch = /^\/v2\/app\/blobs\/uploads\/(u\d+)$/.exec(url.pathname);
    const id = sessionMatch?.[1] ?? '';
    const session = sessions.get(id);
    if (session === undefined || (!options.trackedSessions && Number(url.searchParams.get('_state')) !== session.size)) {
      answer(404, { 'content-type': 'application/json' }, JSON.stringify({ errors: [{ code: 'BLOB_UPLOAD_INVALID', message: 'blob upload invalid' }] }));
      return;
    }
    if (method === 'GET') {
      answer(204, { location: location(id, session.size), range: range(session.size) });
      return;
    }
    if (method === 'DELETE') {
      sessions.delete(id);
      answer(204);
      return;
    }
    if (method === 'PATCH') {
      // docker-registry ignores Content-Range and appends.
      const kept = fault?.kind === 'keep' ? body.subarray(0, fault.bytes) : body;
      session.data.push(kept);
      session.size += kept.byteLength;
      if (fault?.kind === 'drop-after-store') {
        record.status = -1;
        req.socket.destroy();
        return;
      }
      answer(202, { location: location(id, session.size), range: range(session.size) });
      return;
    }
    if (method === 'PUT') {
      session.data.push(body);
      session.size += body.byteLength;
      const all = Buffer.concat(session.data);
      const digest = `sha256:${createHash('sha256').update(all).digest('hex')}`;
      if (digest !== url.searchParams.get('digest')) {
        answer(400, { 'content-type': 'application/json' }, JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' }] }));
        return;
      }
      sessions.delete(id);
      blobs.set(digest, all);
      answer(201, { 'docker-content-digest': digest, location: `${origin}/v2/app/blobs/${digest}` });
      return;
    }
    answer(405);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  origin = `http://127.0.0.1:${address.port}`;
  return {
    url: origin,
    seen,
    sessions,
    blobs,
    faults,
    options,
    reset() {
      seen.length = 0;
      faults.clear();
      counts.clear();
      options.bytesPrefix = false;
      options.trackedSessions = false;
      delete options.minChunkLength;
      delete options.readSlowly;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function patternBytes(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 11)) & 0xff;
  return bytes;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

let fake: Fake;
let endpoint: RepositoryEndpoint;

beforeAll(async () => {
  fake = await startFake();
  // No retries below the engine: what the fake answers is what the engine sees.
  endpoint = { client: new HttpClient({ retry: { retries: 0 } }), base: new URL(`${fake.url}/`), name: 'app' };
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
});

const patches = (): Seen[] => fake.seen.filter((request) => request.method === 'PATCH');

describe('chunkedUpload', () => {
  it('sends PATCH chunks with Content-Range and octet-stream, then a closing PUT with the digest it computed', async () => {
    const bytes = patternBytes(3 * mebibyte + 123, 1);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(result.digest).toBe(sha256(bytes));
    expect(result.bytesSent).toBe(bytes.byteLength);
    expect(patches().map((request) => [request.contentRange, request.contentLength, request.contentType])).toEqual([
      ['0-1048575', '1048576', 'application/octet-stream'],
      ['1048576-2097151', '1048576', 'application/octet-stream'],
      ['2097152-3145727', '1048576', 'application/octet-stream'],
      ['3145728-3145850', '123', 'application/octet-stream'],
    ]);
    const put = fake.seen.find((request) => request.method === 'PUT');
    expect(put?.url).toContain(`digest=${encodeURIComponent(sha256(bytes))}`);
    expect(put?.bodyBytes).toBe(0);
    // Every request went to the Location of the answer before it.
    const states = fake.seen.filter((request) => request.method !== 'POST').map((request) => new URL(request.url, fake.url).searchParams.get('_state'));
    expect(states).toEqual(['0', '1048576', '2097152', '3145728', '3145851']);
    expect(fake.blobs.get(sha256(bytes))?.equals(bytes)).toBe(true);
  });

  it('reads Range with the bytes= prefix too', async () => {
    fake.options.bytesPrefix = true;
    const bytes = patternBytes(2 * mebibyte + 5, 2);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(result.digest).toBe(sha256(bytes));
    expect(patches()).toHaveLength(3);
  });

  it('raises the chunk size to OCI-Chunk-Min-Length', async () => {
    fake.options.minChunkLength = 2 * mebibyte;
    const bytes = patternBytes(5 * mebibyte, 3);
    await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(patches().map((request) => Number(request.contentLength))).toEqual([2 * mebibyte, 2 * mebibyte, mebibyte]);
  });

  it("continues from the registry's offset, not from what it sent, when a chunk was only partly taken", async () => {
    fake.faults.set('PATCH 2', { kind: 'keep', bytes: 300_000 });
    const bytes = patternBytes(3 * mebibyte, 4);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(result.digest).toBe(sha256(bytes));
    // The second chunk was answered Range 0-1348575: the next request starts there.
    expect(patches().map((request) => request.contentRange)).toEqual(['0-1048575', '1048576-2097151', '1348576-2397151', '2397152-3145727']);
    expect(fake.blobs.get(sha256(bytes))?.equals(bytes)).toBe(true);
  });

  it('asks GET <location> for the offset after a 503 and resends the chunk from there', async () => {
    fake.faults.set('PATCH 2', { kind: 'status', status: 503 });
    const bytes = patternBytes(3 * mebibyte, 5);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(result.digest).toBe(sha256(bytes));
    expect(fake.seen.map((request) => `${request.method} ${request.status}`)).toEqual(['POST 202', 'PATCH 202', 'PATCH 503', 'GET 204', 'PATCH 202', 'PATCH 202', 'PUT 201']);
    expect(patches().map((request) => request.contentRange)).toEqual(['0-1048575', '1048576-2097151', '1048576-2097151', '2097152-3145727']);
    expect(result.bytesSent).toBe(4 * mebibyte);
  });

  it('continues after an answer lost on the way back, from the offset the registry reached (a registry that tracks sessions)', async () => {
    fake.options.trackedSessions = true;
    fake.faults.set('PATCH 1', { kind: 'drop-after-store' });
    const bytes = patternBytes(2 * mebibyte, 6);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(result.digest).toBe(sha256(bytes));
    expect(patches().map((request) => request.contentRange)).toEqual(['0-1048575', '1048576-2097151']);
    expect(fake.blobs.get(sha256(bytes))?.equals(bytes)).toBe(true);
  });

  it('starts over after an answer lost on the way back from docker-registry (its old _state is stale: 404)', async () => {
    fake.faults.set('PATCH 1', { kind: 'drop-after-store' });
    const bytes = patternBytes(2 * mebibyte, 6);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(result.restarted).toBe(true);
    expect(fake.seen.map((request) => `${request.method} ${request.status}`)).toEqual(['POST 202', 'PATCH -1', 'GET 404', 'DELETE 404', 'POST 202', 'PATCH 202', 'PATCH 202', 'PUT 201']);
    expect(fake.blobs.get(sha256(bytes))?.equals(bytes)).toBe(true);
  });

  it('starts over once with a new session when the registry lost the session (404)', async () => {
    fake.faults.set('PATCH 2', { kind: 'status', status: 404 });
    const bytes = patternBytes(2 * mebibyte + 7, 7);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(result.restarted).toBe(true);
    expect(result.digest).toBe(sha256(bytes));
    expect(fake.seen.filter((request) => request.method === 'POST')).toHaveLength(2);
    expect(fake.seen.filter((request) => request.method === 'DELETE')).toHaveLength(1);
    expect(fake.blobs.get(sha256(bytes))?.equals(bytes)).toBe(true);
  });

  it('gives up after a second lost session, cancelling it', async () => {
    fake.faults.set('PATCH 1', { kind: 'status', status: 404 });
    fake.faults.set('PATCH 2', { kind: 'status', status: 404 });
    const bytes = patternBytes(2 * mebibyte, 8);
    const error = await rejection(chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte }));
    expect(isStowageError(error, 'NOT_FOUND'), String(error)).toBe(true);
    expect(String(error)).toContain('test upload');
    expect(fake.seen.filter((request) => request.method === 'DELETE')).toHaveLength(2);
  });

  it('starts over when the registry holds other bytes than the ones hashed (400 DIGEST_INVALID on the PUT)', async () => {
    // A registry answer that claims the whole chunk although it appended garbage is caught by the digest.
    const bytes = patternBytes(2 * mebibyte, 9);
    fake.faults.set('PUT 1', { kind: 'status', status: 400 });
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte });
    expect(result.restarted).toBe(true);
    expect(fake.blobs.get(sha256(bytes))?.equals(bytes)).toBe(true);
  });

  it('fails after five failed attempts in a row, and cancels the session', async () => {
    for (let n = 1; n <= 8; n++) fake.faults.set(`PATCH ${n}`, { kind: 'status', status: 500 });
    const bytes = patternBytes(mebibyte * 2, 10);
    const error = await rejection(chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'test upload', chunkSize: mebibyte }));
    expect(isStowageError(error, 'REGISTRY_ERROR'), String(error)).toBe(true);
    expect(String(error)).toMatch(/gave up after 5 attempts/);
    expect(fake.seen.filter((request) => request.method === 'DELETE')).toHaveLength(1);
    expect(fake.seen.filter((request) => request.method === 'PUT')).toHaveLength(0);
  }, 20_000);

  it('continues a session from an earlier run: hashes the bytes the registry has, sends only the rest', async () => {
    const bytes = patternBytes(4 * mebibyte, 11);
    // An earlier run left a session holding the first 2 MiB.
    fake.sessions.set('u500', { data: [bytes.subarray(0, 2 * mebibyte)], size: 2 * mebibyte });
    const offsets: number[] = [];
    const resumed = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, {
      operation: 'resumed',
      chunkSize: mebibyte,
      resume: new URL(`${fake.url}/v2/app/blobs/uploads/u500?_state=${2 * mebibyte}`),
      onSession: (session) => {
        if (session !== undefined) offsets.push(session.offset);
      },
    });
    expect(resumed.resumedFrom).toBe(2 * mebibyte);
    expect(resumed.bytesSent).toBe(2 * mebibyte);
    expect(resumed.digest).toBe(sha256(bytes));
    expect(offsets).toEqual([2 * mebibyte, 3 * mebibyte, 4 * mebibyte]);
    expect(fake.seen.map((request) => request.method)).toEqual(['GET', 'PATCH', 'PATCH', 'PUT']);
    expect(fake.blobs.get(sha256(bytes))?.equals(bytes)).toBe(true);
  });

  it('opens a new session when the saved one is gone (stale _state)', async () => {
    const bytes = patternBytes(mebibyte + 1, 12);
    const stale = new URL(`${fake.url}/v2/app/blobs/uploads/u999?_state=1234`);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, { operation: 'stale', chunkSize: mebibyte, resume: stale });
    expect(result.resumedFrom).toBe(0);
    expect(result.digest).toBe(sha256(bytes));
    expect(fake.seen.map((request) => `${request.method} ${request.status}`)).toEqual(['GET 404', 'POST 202', 'PATCH 202', 'PATCH 202', 'PUT 201']);
  });

  it('refuses to resume a saved Location on another host, and opens a new session', async () => {
    const bytes = patternBytes(mebibyte, 13);
    const result = await chunkedUpload(endpoint, { kind: 'seekable', source: bytesSource(bytes) }, {
      operation: 'elsewhere',
      resume: new URL('http://elsewhere.example/v2/app/blobs/uploads/u1?_state=0'),
    });
    expect(result.resumedFrom).toBe(0);
    expect(fake.seen[0]?.method).toBe('POST');
  });
});

describe('uploadBlob (a known digest)', () => {
  it('sends a stream above the monolithic limit in chunks and checks it before the closing PUT', async () => {
    const bytes = patternBytes(3 * mebibyte, 14);
    const desc = { mediaType: 'application/octet-stream', digest: sha256(bytes), size: bytes.byteLength };
    await uploadBlob(endpoint, desc, Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), { operation: 'stream', monolithicLimit: mebibyte, chunkSize: mebibyte });
    expect(patches()).toHaveLength(3);
    expect(fake.blobs.get(desc.digest)?.equals(bytes)).toBe(true);
  });

  it('never closes a chunked stream whose bytes have another digest: DIGEST_MISMATCH, session cancelled', async () => {
    const bytes = patternBytes(3 * mebibyte, 15);
    const desc = { mediaType: 'application/octet-stream', digest: sha256(patternBytes(3 * mebibyte, 16)), size: bytes.byteLength };
    const error = await rejection(uploadBlob(endpoint, desc, Readable.from([bytes]), { operation: 'stream', monolithicLimit: mebibyte, chunkSize: mebibyte }));
    expect(isStowageError(error, 'DIGEST_MISMATCH'), String(error)).toBe(true);
    expect(fake.seen.filter((request) => request.method === 'PUT')).toHaveLength(0);
    expect(fake.seen.filter((request) => request.method === 'DELETE')).toHaveLength(1);
  });

  it('fails a chunked stream that is longer than its descriptor with SIZE_MISMATCH', async () => {
    const bytes = patternBytes(2 * mebibyte + 1, 17);
    const desc = { mediaType: 'application/octet-stream', digest: sha256(bytes.subarray(0, 2 * mebibyte)), size: 2 * mebibyte };
    const error = await rejection(uploadBlob(endpoint, desc, Readable.from([bytes]), { operation: 'stream', monolithicLimit: mebibyte, chunkSize: mebibyte }));
    expect(isStowageError(error, 'SIZE_MISMATCH'), String(error)).toBe(true);
    expect(fake.seen.filter((request) => request.method === 'PUT')).toHaveLength(0);
  });

  it('cannot resend a stream: a failed chunk the registry did not take fails with NETWORK and cancels the session', async () => {
    fake.faults.set('PATCH 2', { kind: 'status', status: 503 });
    const bytes = patternBytes(3 * mebibyte, 18);
    const desc = { mediaType: 'application/octet-stream', digest: sha256(bytes), size: bytes.byteLength };
    const error = await rejection(uploadBlob(endpoint, desc, Readable.from([bytes]), { operation: 'stream', monolithicLimit: mebibyte, chunkSize: mebibyte }));
    expect(isStowageError(error, 'NETWORK'), String(error)).toBe(true);
    expect(String(error)).toMatch(/a stream cannot send those bytes again/);
    expect(fake.seen.filter((request) => request.method === 'DELETE')).toHaveLength(1);
  });

  it('resends bytes in memory after a failed chunk', async () => {
    fake.faults.set('PATCH 2', { kind: 'status', status: 502 });
    const bytes = patternBytes(3 * mebibyte, 19);
    const desc = { mediaType: 'application/octet-stream', digest: sha256(bytes), size: bytes.byteLength };
    await uploadBlob(endpoint, desc, bytes, { operation: 'bytes', monolithicLimit: mebibyte, chunkSize: mebibyte });
    expect(fake.blobs.get(desc.digest)?.equals(bytes)).toBe(true);
  });

  it('sends a blob up to the monolithic limit in one PUT', async () => {
    const bytes = patternBytes(mebibyte, 20);
    const desc = { mediaType: 'application/octet-stream', digest: sha256(bytes), size: bytes.byteLength };
    await uploadBlob(endpoint, desc, Readable.from([bytes]), { operation: 'small', monolithicLimit: mebibyte });
    expect(fake.seen.map((request) => `${request.method} ${request.bodyBytes}`)).toEqual(['POST 0', `PUT ${mebibyte}`]);
  });
});

describe('uploadFile', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stowage-upload-file-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a small file once, HEADs its digest, and sends it in one PUT', async () => {
    const bytes = patternBytes(100_000, 21);
    const path = join(dir, 'small.bin');
    await writeFile(path, bytes);
    const result = await uploadFile(endpoint, path, { operation: 'small file' });
    expect(result).toEqual({ descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(bytes), size: bytes.byteLength }, outcome: 'uploaded', bytesRead: bytes.byteLength, bytesSent: bytes.byteLength, resumedFrom: 0 });
    expect(fake.seen.map((request) => request.method)).toEqual(['HEAD', 'POST', 'PUT']);
    // Again: the HEAD finds it, nothing is sent.
    fake.reset();
    expect((await uploadFile(endpoint, path, { operation: 'small file' })).outcome).toBe('exists');
    expect(fake.seen.map((request) => request.method)).toEqual(['HEAD']);
  });

  it('sends every byte of a large file to a registry that reads slowly, though its read buffers are reused', async () => {
    fake.options.readSlowly = true;
    // Random: patternBytes repeats every MiB, so a piece sent with the next one's bytes would go unseen.
    const bytes = randomBytes(24 * mebibyte);
    const path = join(dir, 'slow.bin');
    await writeFile(path, bytes);
    const result = await uploadFile(endpoint, path, { operation: 'slow registry', chunkSize: 8 * mebibyte });
    expect(result).toMatchObject({ descriptor: { digest: sha256(bytes), size: bytes.byteLength }, outcome: 'uploaded', bytesSent: bytes.byteLength });
    expect(patches().map((request) => request.bodyBytes)).toEqual([8 * mebibyte, 8 * mebibyte, 8 * mebibyte]);
    expect(fake.blobs.get(sha256(bytes))?.equals(bytes)).toBe(true);
  });

  it('skips a file the digest cache knows and the registry has, without reading it', async () => {
    const bytes = patternBytes(6 * mebibyte, 22);
    const path = join(dir, 'cached.bin');
    await writeFile(path, bytes);
    fake.blobs.set(sha256(bytes), bytes);
    const cache = DigestCache.inMemory({ racyWindowMs: 0 });
    cache.set(path, fileIdentity(await stat(path, { bigint: true })), sha256(bytes), Date.now() + 1);
    const result = await uploadFile(endpoint, path, { operation: 'cached file', digestCache: cache });
    expect(result).toMatchObject({ outcome: 'exists', bytesRead: 0, bytesSent: 0 });
    expect(fake.seen.map((request) => request.method)).toEqual(['HEAD']);
  });

  it('fails with IO and commits nothing when the file changes while it is read', async () => {
    const path = join(dir, 'growing.bin');
    await writeFile(path, patternBytes(6 * mebibyte, 23));
    let touched = false;
    const error = await rejection(
      uploadFile(endpoint, path, {
        operation: 'growing file',
        chunkSize: mebibyte,
        onProgress: (transferred) => {
          if (transferred >= 2 * mebibyte && !touched) {
            touched = true;
            appendFileSync(path, 'more');
          }
        },
      }),
    );
    expect(isStowageError(error, 'IO'), String(error)).toBe(true);
    expect(String(error)).toMatch(/changed while it was being read/);
    expect(fake.seen.filter((request) => request.method === 'PUT')).toHaveLength(0);
    expect(fake.seen.filter((request) => request.method === 'DELETE')).toHaveLength(1);
  });

  it('refuses what is not a regular file, and a missing file, with FILE_NOT_FOUND', async () => {
    expect(isStowageError(await rejection(uploadFile(endpoint, dir, { operation: 'a directory' })), 'FILE_NOT_FOUND')).toBe(true);
    expect(isStowageError(await rejection(uploadFile(endpoint, join(dir, 'missing'), { operation: 'missing' })), 'FILE_NOT_FOUND')).toBe(true);
    expect(fake.seen).toEqual([]);
  });
});
