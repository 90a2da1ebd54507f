/**
 * The retry policy (src/registry/retry.ts): which requests, statuses and failures are retried, backoff,
 * Retry-After; and HttpClient applying it against a scripted server on 127.0.0.1, with timeouts and the
 * errors of bodies lost mid-stream.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isStowageError, StowageError } from '../../src/errors.js';
import { discardBody, HttpClient, readBody, registryError, type HttpRetryEvent } from '../../src/registry/http.js';
import {
  backoffDelay,
  defaultRetryPolicy,
  isRepeatable,
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  retryDecision,
  retryPolicy,
  waitBeforeRetry,
} from '../../src/registry/retry.js';
import { freePort } from '../helpers/registry-harness.js';
import { rejection } from '../helpers/store-contract.js';

function withCode(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('parseRetryAfter', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');

  it('reads whole seconds and HTTP dates, a past date as 0', () => {
    expect(parseRetryAfter('1', now)).toBe(1_000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wednesday, 21-Oct-15 07:29:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now)).toBe(0);
  });

  it('ignores what is neither', () => {
    for (const value of [undefined, '', '-1', '1.5', '1e3', 'soon', 'Xyz, 99 Foo 2015']) expect(parseRetryAfter(value, now), String(value)).toBeUndefined();
  });
});

describe('backoff', () => {
  it('doubles from 200 ms, capped at 5 s, with equal jitter (half fixed, half random)', () => {
    const low = [0, 1, 2, 3, 4, 5, 6].map((retry) => backoffDelay(retry, defaultRetryPolicy, () => 0));
    const high = [0, 1, 2, 3, 4, 5, 6].map((retry) => backoffDelay(retry, defaultRetryPolicy, () => 1));
    expect(low).toEqual([100, 200, 400, 800, 1600, 2500, 2500]);
    expect(high).toEqual([200, 400, 800, 1600, 3200, 5000, 5000]);
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(2);
      expect(delay).toBeGreaterThanOrEqual(400);
      expect(delay).toBeLessThanOrEqual(800);
    }
    // Huge retry numbers do not overflow.
    expect(backoffDelay(10_000, defaultRetryPolicy, () => 1)).toBe(5_000);
  });

  it('decides: the backoff or a longer Retry-After; no retry past the count or past the Retry-After cap', () => {
    const policy = retryPolicy({ retries: 2 });
    expect(retryDecision(1, undefined, policy, () => 0)).toEqual({ retry: true, delayMs: 100 });
    expect(retryDecision(2, undefined, policy, () => 1)).toEqual({ retry: true, delayMs: 400 });
    expect(retryDecision(3, undefined, policy)).toEqual({ retry: false, reason: 'attempts' });
    expect(retryDecision(1, 1_000, policy, () => 1)).toEqual({ retry: true, delayMs: 1_000 });
    // Retry-After is the least wait: a server saying 0 still gets our backoff.
    expect(retryDecision(1, 0, policy, () => 1)).toEqual({ retry: true, delayMs: 200 });
    expect(retryDecision(1, 60_000, policy, () => 0)).toEqual({ retry: true, delayMs: 60_000 });
    expect(retryDecision(1, 60_001, policy)).toEqual({ retry: false, reason: 'retry-after' });
    expect(retryDecision(1, undefined, retryPolicy({ retries: 0 }))).toEqual({ retry: false, reason: 'attempts' });
  });

  it('validates options and fills in defaults', () => {
    expect(retryPolicy()).toEqual({ retries: 5, baseDelayMs: 200, maxDelayMs: 5_000, maxRetryAfterMs: 60_000 });
    expect(retryPolicy({ retries: 0, baseDelayMs: 10 })).toEqual({ retries: 0, baseDelayMs: 10, maxDelayMs: 5_000, maxRetryAfterMs: 60_000 });
    for (const bad of [{ retries: -1 }, { retries: 1.5 }, { baseDelayMs: Number.NaN }, { baseDelayMs: 100, maxDelayMs: 50 }]) {
      expect(() => retryPolicy(bad), JSON.stringify(bad)).toThrow(StowageError);
    }
  });
});

describe('what is retried', () => {
  it('methods: GET, HEAD, DELETE always; PUT, POST, PATCH only when marked idempotent; stream bodies never', () => {
    for (const method of ['GET', 'HEAD', 'DELETE']) expect(isRepeatable(method, 'none', undefined), method).toBe(true);
    for (const method of ['PUT', 'POST', 'PATCH']) {
      expect(isRepeatable(method, 'bytes', undefined), method).toBe(false);
      expect(isRepeatable(method, 'none', false), method).toBe(false);
      expect(isRepeatable(method, 'bytes', true), method).toBe(true);
      expect(isRepeatable(method, 'none', true), method).toBe(true);
      expect(isRepeatable(method, 'stream', true), method).toBe(false);
    }
    expect(isRepeatable('GET', 'stream', true)).toBe(false);
  });

  it('statuses: 408, 429, 500, 502, 503, 504', () => {
    const retried = [400, 401, 403, 404, 405, 408, 409, 413, 416, 429, 500, 501, 502, 503, 504, 505].filter(isRetryableStatus);
    expect(retried).toEqual([408, 429, 500, 502, 503, 504]);
  });

  it('failures: resets, closed sockets and timeouts, also as the cause of a NETWORK error; not refusals, TLS or our own errors', () => {
    for (const code of ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']) {
      expect(isRetryableError(withCode(code)), code).toBe(true);
      expect(isRetryableError(new StowageError('NETWORK', 'x', { cause: withCode(code) })), code).toBe(true);
    }
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'CERT_HAS_EXPIRED', 'UND_ERR_ABORTED', 'UND_ERR_BODY_TIMEOUT']) {
      expect(isRetryableError(withCode(code)), code).toBe(false);
    }
    expect(isRetryableError(new StowageError('ABORTED', 'x', { cause: withCode('ECONNRESET') }))).toBe(false);
    expect(isRetryableError(new StowageError('DIGEST_MISMATCH', 'x'))).toBe(false);
    expect(isRetryableError(new StowageError('NETWORK', 'x'))).toBe(false);
    expect(isRetryableError(new Error('plain'))).toBe(false);
    expect(isRetryableError('ECONNRESET')).toBe(false);
  });

  it('waits, and stops waiting with ABORTED when the signal fires', async () => {
    const started = performance.now();
    await waitBeforeRetry(20, undefined, 'op');
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    const controller = new AbortController();
    const waiting = waitBeforeRetry(10_000, controller.signal, 'push blob x');
    setTimeout(() => { controller.abort(); }, 20);
    const error = await rejection(waiting);
    expect(isStowageError(error, 'ABORTED')).toBe(true);
    expect(String(error)).toContain('push blob x: cancelled');
    await expect(waitBeforeRetry(10, AbortSignal.abort(), 'op')).rejects.toThrow(/cancelled/);
  });
});

/** What the scripted server does with the nth request of a path. */
type Step = 'ok' | 'reset' | 'stall' | 'truncate' | 'stall-body' | { status: number; retryAfter?: string };

describe('HttpClient retries', () => {
  let server: Server;
  let origin: string;
  const scripts = new Map<string, Step[]>();
  const hits = new Map<string, number>();
  const bodies = new Map<string, number[]>();

  function respond(req: IncomingMessage, res: ServerResponse, step: Step): void {
    if (step === 'reset') {
      req.socket.resetAndDestroy();
    } else if (step === 'stall') {
      // Never answers; the client's headers timeout ends it.
    } else if (step === 'truncate' || step === 'stall-body') {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(4096, 1));
      if (step === 'truncate') setTimeout(() => res.socket?.end(), 20);
    } else if (step === 'ok') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok');
    } else {
      res.writeHead(step.status, { 'content-type': 'application/json', ...(step.retryAfter === undefined ? {} : { 'retry-after': step.retryAfter }) });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `scripted ${step.status}` }] }));
    }
  }

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '/';
      const n = hits.get(path) ?? 0;
      hits.set(path, n + 1);
      let size = 0;
      req.on('data', (chunk: Buffer) => (size += chunk.byteLength));
      req.on('end', () => {
        bodies.set(path, [...(bodies.get(path) ?? []), size]);
        const script = scripts.get(path) ?? [];
        respond(req, res, script[Math.min(n, script.length - 1)] ?? 'ok');
      });
    });
    server.on('connection', (socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    origin = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    scripts.clear();
    hits.clear();
    bodies.clear();
  });

  let counter = 0;
  function path(...steps: Step[]): string {
    const name = `/v2/app/${++counter}`;
    scripts.set(name, steps);
    return name;
  }

  function client(events: HttpRetryEvent[] = [], options: ConstructorParameters<typeof HttpClient>[0] = {}): HttpClient {
    return new HttpClient({ retry: { baseDelayMs: 5, maxDelayMs: 20 }, headersTimeoutMs: 300, bodyTimeoutMs: 300, onRetry: (event) => events.push(event), ...options });
  }

  it('retries a GET through 503s and a reset, and says how many attempts it took', async () => {
    const events: HttpRetryEvent[] = [];
    const url = path({ status: 503 }, 'reset', { status: 502 }, 'ok');
    const response = await client(events).send({ method: 'GET', url: `${origin}${url}` });
    expect(response.status).toBe(200);
    expect(response.attempts).toBe(4);
    expect(new TextDecoder().decode(await readBody(response, 100, 'get'))).toBe('ok');
    expect(hits.get(url)).toBe(4);
    expect(events.map((event) => [event.attempt, event.status ?? event.reason])).toEqual([
      [1, 503],
      [2, expect.stringMatching(/ECONNRESET|other side closed/)],
      [3, 502],
    ]);
    for (const event of events) expect(event.delayMs).toBeLessThanOrEqual(20);
  });

  it('returns the last answer when the retries run out; the error names the attempts', async () => {
    const url = path({ status: 500 });
    const response = await client([], { retry: { retries: 2, baseDelayMs: 5, maxDelayMs: 5 } }).send({ method: 'HEAD', url: `${origin}${url}`, operation: 'check blob r/app@sha256:x' });
    expect(response.status).toBe(500);
    expect(response.attempts).toBe(3);
    expect(hits.get(url)).toBe(3);
    const error = await registryError(response, 'check blob r/app@sha256:x');
    expect(error.code).toBe('REGISTRY_ERROR');
    expect(error.message).toBe('check blob r/app@sha256:x: internal server error (HTTP 500) (after 3 attempts)');
  });

  it('throws the last failure when every attempt is reset, with the attempt count', async () => {
    const url = path('reset');
    const error = await rejection(client([], { retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 1 } }).send({ method: 'GET', url: `${origin}${url}`, operation: 'fetch blob r/app@sha256:x' }));
    expect(isStowageError(error, 'NETWORK')).toBe(true);
    expect(String(error)).toMatch(/^StowageError: fetch blob r\/app@sha256:x: cannot reach 127\.0\.0\.1:\d+: .* \(after 4 attempts\)$/);
    expect(hits.get(url)).toBe(4);
  });

  it('retries PUT and POST with bytes only when marked idempotent, and never a stream body', async () => {
    const put = path({ status: 503 }, 'ok');
    expect((await client().send({ method: 'PUT', url: `${origin}${put}`, body: Buffer.from('manifest') })).status).toBe(503);
    expect(hits.get(put)).toBe(1);
    const idempotent = path({ status: 503 }, 'ok');
    const response = await client().send({ method: 'PUT', url: `${origin}${idempotent}`, body: Buffer.from('manifest'), idempotent: true });
    expect(response.status).toBe(200);
    await discardBody(response);
    // The bytes were sent again in full.
    expect(bodies.get(idempotent)).toEqual([8, 8]);
    const post = path({ status: 503 }, 'ok');
    expect((await client().send({ method: 'POST', url: `${origin}${post}`, idempotent: true })).status).toBe(200);
    const stream = path({ status: 503 }, 'ok');
    const answer = await client().send({ method: 'PUT', url: `${origin}${stream}`, body: Readable.from([Buffer.from('blob')]), idempotent: true });
    expect(answer.status).toBe(503);
    expect(hits.get(stream)).toBe(1);
  });

  it('does not retry a refused connection, nor with retries: 0', async () => {
    const port = await freePort();
    const started = performance.now();
    const refused = await rejection(client().send({ method: 'GET', url: `http://127.0.0.1:${port}/v2/` }));
    expect(isStowageError(refused, 'NETWORK')).toBe(true);
    expect(String(refused)).toContain('ECONNREFUSED');
    expect(String(refused)).not.toContain('attempts');
    expect(performance.now() - started).toBeLessThan(2_000);
    const url = path({ status: 503 }, 'ok');
    expect((await client([], { retry: { retries: 0 } }).send({ method: 'GET', url: `${origin}${url}` })).status).toBe(503);
    expect(hits.get(url)).toBe(1);
  });

  it('gives up on a server that does not answer within the headers timeout, after retrying', async () => {
    const url = path('stall');
    const started = performance.now();
    const error = await rejection(client([], { retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1 }, headersTimeoutMs: 200 }).send({ method: 'HEAD', url: `${origin}${url}`, operation: 'resolve r/app:v1' }));
    expect(isStowageError(error, 'NETWORK')).toBe(true);
    expect(String(error)).toMatch(/resolve r\/app:v1: cannot reach .*: no answer within 200 ms \(UND_ERR_HEADERS_TIMEOUT\) \(after 2 attempts\)/);
    expect(hits.get(url)).toBe(2);
    expect(performance.now() - started).toBeLessThan(3_000);
    // A stall then an answer: the retry gets it.
    const recovers = path('stall', 'ok');
    expect((await client([], { headersTimeoutMs: 200 }).send({ method: 'GET', url: `${origin}${recovers}` })).status).toBe(200);
  });

  it('honours Retry-After, and does not wait for one over the cap (the error says what was asked)', async () => {
    const events: HttpRetryEvent[] = [];
    const url = path({ status: 429, retryAfter: '1' }, 'ok');
    const started = performance.now();
    const response = await client(events).send({ method: 'GET', url: `${origin}${url}` });
    expect(response.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    expect(events).toMatchObject([{ attempt: 1, status: 429, delayMs: 1_000 }]);
    const tooLong = path({ status: 503, retryAfter: '120' }, 'ok');
    const refused = await client([], { retry: { maxRetryAfterMs: 60_000 } }).send({ method: 'GET', url: `${origin}${tooLong}`, operation: 'fetch manifest r/app:v1' });
    expect(refused.status).toBe(503);
    expect(hits.get(tooLong)).toBe(1);
    expect((await registryError(refused, 'fetch manifest r/app:v1')).message).toBe('fetch manifest r/app:v1: scripted 503 (HTTP 503 Service Unavailable); the registry asks to retry after 120 s');
  });

  it('stops waiting for a retry when the signal fires', async () => {
    const url = path({ status: 503, retryAfter: '30' }, 'ok');
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => { controller.abort(); }, 50);
    const error = await rejection(client().send({ method: 'GET', url: `${origin}${url}`, signal: controller.signal, operation: 'pull r/app:v1' }));
    expect(isStowageError(error, 'ABORTED')).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(hits.get(url)).toBe(1);
  });

  it('fails a body cut short with NETWORK naming the bytes received, and a stalled body after the idle timeout', async () => {
    const truncated = path('truncate');
    const response = await client().send({ method: 'GET', url: `${origin}${truncated}`, operation: 'fetch blob r/app@sha256:x' });
    expect(response.status).toBe(200);
    const error = await rejection(readBody(response, 1_000_000, 'fetch blob r/app@sha256:x'));
    expect(isStowageError(error, 'NETWORK')).toBe(true);
    expect(String(error)).toMatch(/fetch blob r\/app@sha256:x: connection lost after 4096 of 100000 bytes: other side closed/);
    const stalled = path('stall-body');
    const started = performance.now();
    const slow = await client([], { bodyTimeoutMs: 200 }).send({ method: 'GET', url: `${origin}${stalled}`, operation: 'fetch blob r/app@sha256:y' });
    const idle = await rejection(readBody(slow, 1_000_000, 'fetch blob r/app@sha256:y'));
    expect(isStowageError(idle, 'NETWORK')).toBe(true);
    expect(String(idle)).toContain('fetch blob r/app@sha256:y: connection lost after 4096 of 100000 bytes: no data for 200 ms (UND_ERR_BODY_TIMEOUT)');
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('rejects timeouts that are not whole milliseconds', () => {
    expect(() => new HttpClient({ headersTimeoutMs: -1 })).toThrow(/headersTimeoutMs/);
    expect(() => new HttpClient({ bodyTimeoutMs: 1.5 })).toThrow(/bodyTimeoutMs/);
    expect(() => new HttpClient({ retry: { retries: -2 } })).toThrow(/retries/);
  });
});
