/**
 * The undici parts loaded by path (`src/registry/undici.ts`) are undici's own: the same classes and
 * functions as its index, and HttpClient's requests go through the global dispatcher, an Agent or a
 * caller's own Dispatcher as they would with the index. An undici upgrade that moves these files fails here.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as undici from 'undici';
import agentModule from 'undici/lib/dispatcher/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, type HttpResponse } from '../../src/registry/http.js';
import { Agent, buildConnector, EnvHttpProxyAgent, getGlobalDispatcher } from '../../src/registry/undici.js';

let server: Server;
let base: URL;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString('utf8'), agent: req.headers['user-agent'] ?? '' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
});

interface Echo {
  method: string;
  url: string;
  body: string;
  agent: string;
}

/** The body read whole, as text. */
async function text(response: HttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function echoOf(response: HttpResponse): Promise<Echo> {
  expect(response.status).toBe(200);
  return JSON.parse(await text(response)) as Echo;
}

describe('undici loaded by path', () => {
  it('gives the very classes and functions of the index', async () => {
    expect(Agent).toBe(undici.Agent);
    expect(agentModule).toBe(undici.Agent);
    expect(EnvHttpProxyAgent).toBe(undici.EnvHttpProxyAgent);
    expect(buildConnector).toBe(undici.buildConnector);
    const agent = new Agent();
    expect(agent).toBeInstanceOf(undici.Agent);
    expect(agent).toBeInstanceOf(undici.Dispatcher);
    const proxied = new EnvHttpProxyAgent({ httpProxy: 'http://127.0.0.1:3128', httpsProxy: '', noProxy: '' });
    expect(proxied).toBeInstanceOf(undici.EnvHttpProxyAgent);
    expect(typeof buildConnector({})).toBe('function');
    await Promise.all([agent.close(), proxied.close()]);
  });

  it('HttpClient: through the global dispatcher, with the path, query, method, headers and body given', async () => {
    const client = new HttpClient({ userAgent: 'stowage-test' });
    const got = await echoOf(await client.send({ method: 'POST', url: new URL('/v2/a/b/manifests/c?n=1&last=x', base), body: new TextEncoder().encode('hello') }));
    expect(got).toEqual({ method: 'POST', url: '/v2/a/b/manifests/c?n=1&last=x', body: 'hello', agent: 'stowage-test' });
    expect(getGlobalDispatcher()).toBe(undici.getGlobalDispatcher());
  });

  it('HttpClient: through an Agent made here and through the public one', async () => {
    const mine = new Agent();
    const theirs = new undici.Agent();
    try {
      expect((await echoOf(await new HttpClient({ dispatcher: mine }).send({ method: 'GET', url: new URL('/mine', base) }))).url).toBe('/mine');
      expect((await echoOf(await new HttpClient({ dispatcher: theirs }).send({ method: 'GET', url: new URL('/theirs', base) }))).url).toBe('/theirs');
    } finally {
      await Promise.all([mine.close(), theirs.close()]);
    }
  });

  it("HttpClient: through a caller's own Dispatcher (a wrapper, and undici's MockAgent)", async () => {
    const inner = new undici.Agent();
    const seen: string[] = [];
    class Recording extends undici.Dispatcher {
      override dispatch(options: undici.Dispatcher.DispatchOptions, handler: undici.Dispatcher.DispatchHandler): boolean {
        seen.push(`${options.method} ${options.path}`);
        return inner.dispatch(options, handler);
      }
    }
    const mock = new undici.MockAgent();
    mock.disableNetConnect();
    mock.get('https://registry.test').intercept({ path: '/v2/', method: 'GET' }).reply(200, { mocked: true });
    try {
      expect((await echoOf(await new HttpClient({ dispatcher: new Recording() }).send({ method: 'GET', url: new URL('/wrapped?x=1', base) }))).url).toBe('/wrapped?x=1');
      expect(seen).toEqual(['GET /wrapped?x=1']);
      const mocked = await new HttpClient({ dispatcher: mock }).send({ method: 'GET', url: new URL('https://registry.test/v2/') });
      expect(mocked.status).toBe(200);
      expect(JSON.parse(await text(mocked))).toEqual({ mocked: true });
    } finally {
      await Promise.all([inner.close(), mock.close()]);
    }
  });

  it("HttpClient: without a dispatcher, the global one a caller set with undici's setGlobalDispatcher", async () => {
    const previous = undici.getGlobalDispatcher();
    const mock = new undici.MockAgent();
    mock.disableNetConnect();
    mock.get('https://registry.test').intercept({ path: '/v2/', method: 'GET' }).reply(401, 'global');
    undici.setGlobalDispatcher(mock);
    try {
      const answer = await new HttpClient().send({ method: 'GET', url: new URL('https://registry.test/v2/') });
      expect(answer.status).toBe(401);
      expect(await text(answer)).toBe('global');
    } finally {
      undici.setGlobalDispatcher(previous);
      await mock.close();
    }
  });

  it("HttpClient: a Dispatcher that throws at once fails the request with NETWORK, and an aborted signal with ABORTED", async () => {
    class Refusing extends undici.Dispatcher {
      override dispatch(): boolean {
        throw new undici.errors.ClientDestroyedError();
      }
    }
    await expect(new HttpClient({ dispatcher: new Refusing(), retry: { retries: 0 } }).send({ method: 'GET', url: new URL('/refused', base) })).rejects.toMatchObject({ code: 'NETWORK' });
    const agent = new Agent();
    try {
      const controller = new AbortController();
      controller.abort();
      await expect(new HttpClient({ dispatcher: agent }).send({ method: 'GET', url: new URL('/aborted', base), signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    } finally {
      await agent.close();
    }
  });
});
