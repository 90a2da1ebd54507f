/**
 * Response bodies as HttpClient gives them, fed from undici's callbacks: read as a stream or drained into a
 * function, with back-pressure, an expected length, and the transfer aborted when the reader gives up.
 * Against a local node:http server that sends patterned bytes.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { HttpClient } from '../../src/registry/http.js';
import { ResponseBody } from '../../src/registry/response-body.js';

const mebibyte = 1024 * 1024;
let server: Server;
let base: URL;
/** Bytes each `/bytes/<n>` answer managed to hand to its socket, by request id (`?id=`). */
const written = new Map<string, number>();
const closedEarly = new Set<string>();

function pattern(offset: number, length: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (offset + i) % 251;
  return bytes;
}

function digestOf(length: number): string {
  const hash = createHash('sha256');
  for (let at = 0; at < length; at += mebibyte) hash.update(pattern(at, Math.min(mebibyte, length - at)));
  return hash.digest('hex');
}

/** Sends `length` patterned bytes in 64 KiB writes, waiting for 'drain' whenever the socket is full. */
function sendBytes(res: ServerResponse, length: number, id: string): void {
  res.writeHead(200, { 'content-length': String(length) });
  let at = 0;
  written.set(id, 0);
  res.on('close', () => {
    if (at < length) closedEarly.add(id);
  });
  const next = (): void => {
    while (at < length && !res.destroyed) {
      const size = Math.min(64 * 1024, length - at);
      const more = res.write(pattern(at, size));
      at += size;
      written.set(id, at);
      if (!more) {
        res.once('drain', next);
        return;
      }
    }
    if (at >= length) res.end();
  };
  next();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const match = /^\/bytes\/(\d+)$/.exec(url.pathname);
    if (match === null) {
      res.writeHead(404).end();
      return;
    }
    sendBytes(res, Number(match[1]), url.searchParams.get('id') ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
});

const client = new HttpClient({ retry: { retries: 0 } });

async function get(length: number, id = '', signal?: AbortSignal): Promise<ResponseBody> {
  const response = await client.send({ method: 'GET', url: new URL(`/bytes/${length}?id=${id}`, base), ...(signal === undefined ? {} : { signal }) });
  expect(response.status).toBe(200);
  return response.body;
}

function sha256(): { take: (chunk: Buffer) => void; hex: () => string; bytes: () => number } {
  const hash = createHash('sha256');
  let bytes = 0;
  return {
    take: (chunk) => {
      hash.update(chunk);
      bytes += chunk.byteLength;
    },
    hex: () => hash.digest('hex'),
    bytes: () => bytes,
  };
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ResponseBody', () => {
  it('reads as a stream and drains into a function: every byte, in order', async () => {
    const length = 8 * mebibyte + 12_345;
    const streamed = sha256();
    for await (const chunk of await get(length)) streamed.take(chunk as Buffer);
    expect(streamed.hex()).toBe(digestOf(length));
    const drained = sha256();
    await (await get(length)).drainTo(drained.take);
    expect(drained.bytes()).toBe(length);
    expect(drained.hex()).toBe(digestOf(length));
  });

  it('reports each chunk as it arrives to its taps, however it is read', async () => {
    const length = 4 * mebibyte + 7;
    const drained = await get(length);
    const seen: number[] = [];
    drained.tap((bytes) => seen.push(bytes));
    const taken = sha256();
    await drained.drainTo(taken.take);
    expect(seen.reduce((sum, bytes) => sum + bytes, 0)).toBe(length);
    expect(seen.length).toBeGreaterThan(1);
    const streamed = await get(length);
    let total = 0;
    streamed.tap((bytes) => {
      total += bytes;
    });
    let read = 0;
    for await (const chunk of streamed) read += (chunk as Buffer).byteLength;
    expect(total).toBe(length);
    expect(read).toBe(length);
  });

  it('drains the chunks it buffered before drainTo first, then the rest', async () => {
    const length = 4 * mebibyte;
    const body = await get(length);
    // Left unread for a while: the body buffers up to its high-water mark and pauses the transfer.
    await sleep(100);
    expect(body.received).toBeGreaterThan(0);
    const drained = sha256();
    await body.drainTo(drained.take);
    expect(drained.hex()).toBe(digestOf(length));
  });

  it('holds the transfer while the function has not taken a chunk (back-pressure)', async () => {
    const length = 64 * mebibyte;
    const body = await get(length, 'held');
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const drained = sha256();
    let first = true;
    const done = body.drainTo((chunk) => {
      drained.take(chunk);
      if (!first) return undefined;
      first = false;
      return held;
    });
    await sleep(300);
    // Socket buffers hold a few MiB at most; without back-pressure the whole 64 MiB would be sent by now.
    expect(written.get('held')).toBeLessThan(16 * mebibyte);
    release();
    await done;
    expect(drained.hex()).toBe(digestOf(length));
  });

  it('fails with SIZE_MISMATCH when more or fewer bytes come than expected, read either way', async () => {
    const more = await caught((await get(1000)).expectLength(999, 'fetch blob x').drainTo(() => undefined));
    expect(isStowageError(more, 'SIZE_MISMATCH')).toBe(true);
    expect(String(more)).toContain('fetch blob x: received more than the expected 999 bytes');
    const fewer = await caught((await get(1000)).expectLength(1001, 'fetch blob y').drainTo(() => undefined));
    expect(isStowageError(fewer, 'SIZE_MISMATCH')).toBe(true);
    expect(String(fewer)).toContain('fetch blob y: received 1000 bytes, expected 1001');
    const streamed = (await get(1000)).expectLength(1001, 'fetch blob z');
    const error = await caught(
      (async () => {
        for await (const chunk of streamed) expect(chunk).toBeInstanceOf(Buffer);
      })(),
    );
    expect(isStowageError(error, 'SIZE_MISMATCH')).toBe(true);
    const exact = sha256();
    await (await get(1000)).expectLength(1000, 'fetch blob w').drainTo(exact.take);
    expect(exact.bytes()).toBe(1000);
  });

  it('aborts the transfer when the function throws, and fails with what it threw', async () => {
    const body = await get(64 * mebibyte, 'thrown');
    let seen = 0;
    const error = await caught(
      body.drainTo((chunk) => {
        seen += chunk.byteLength;
        if (seen > mebibyte) throw new Error('disk full');
      }),
    );
    expect(String(error)).toContain('disk full');
    await expect.poll(() => closedEarly.has('thrown')).toBe(true);
    // The same for a promise that rejects.
    const rejected = await caught((await get(64 * mebibyte, 'rejected')).drainTo(() => Promise.reject(new Error('no room'))));
    expect(String(rejected)).toContain('no room');
    await expect.poll(() => closedEarly.has('rejected')).toBe(true);
  });

  it('fails with ABORTED when the signal fires mid-body', async () => {
    const controller = new AbortController();
    const body = await get(64 * mebibyte, 'aborted', controller.signal);
    let seen = 0;
    const error = await caught(
      body.drainTo(async (chunk) => {
        seen += chunk.byteLength;
        if (seen > mebibyte) controller.abort();
        await sleep(0);
      }),
    );
    expect(isStowageError(error, 'ABORTED'), String(error)).toBe(true);
    await expect.poll(() => closedEarly.has('aborted')).toBe(true);
  });

  it('is drained once: a second drainTo, or one after reading, fails with INVALID_ARGUMENT', async () => {
    const body = ResponseBody.of(new TextEncoder().encode('hello'));
    const taken: string[] = [];
    await body.drainTo((chunk) => {
      taken.push(chunk.toString('utf8'));
    });
    expect(taken).toEqual(['hello']);
    expect(isStowageError(await caught(body.drainTo(() => undefined)), 'INVALID_ARGUMENT')).toBe(true);
    const read = ResponseBody.of(new TextEncoder().encode('world'));
    const chunks: Buffer[] = [];
    for await (const chunk of read) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString('utf8')).toBe('world');
    expect(isStowageError(await caught(read.drainTo(() => undefined)), 'INVALID_ARGUMENT')).toBe(true);
  });
});
