/**
 * The undici parts loaded by path (`src/registry/undici.ts`) are undici's own: the same classes and
 * functions as its index, and `request` behaves as the index's top-level `request` with the global
 * dispatcher, an Agent or a caller's own Dispatcher. An undici upgrade that moves these files fails here.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as undici from 'undici';
import agentModule from 'undici/lib/dispatcher/agent.js';
import requestModule from 'undici/lib/api/api-request.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, buildConnector, EnvHttpProxyAgent, request } from '../../src/registry/undici.js';

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

async function echoOf(response: undici.Dispatcher.ResponseData): Promise<Echo> {
  expect(response.statusCode).toBe(200);
  return (await response.body.json()) as Echo;
}

describe('undici loaded by path', () => {
  it('gives the very classes and functions of the index', async () => {
    expect(Agent).toBe(undici.Agent);
    expect(agentModule).toBe(undici.Agent);
    expect(EnvHttpProxyAgent).toBe(undici.EnvHttpProxyAgent);
    expect(buildConnector).toBe(undici.buildConnector);
    // The index installs the request function on Dispatcher.prototype; request() calls it with the dispatcher as `this`.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- compared, not called
    expect(requestModule).toBe(undici.Dispatcher.prototype.request);
    const agent = new Agent();
    expect(agent).toBeInstanceOf(undici.Agent);
    expect(agent).toBeInstanceOf(undici.Dispatcher);
    const proxied = new EnvHttpProxyAgent({ httpProxy: 'http://127.0.0.1:3128', httpsProxy: '', noProxy: '' });
    expect(proxied).toBeInstanceOf(undici.EnvHttpProxyAgent);
    expect(typeof buildConnector({})).toBe('function');
    await Promise.all([agent.close(), proxied.close()]);
  });

  it('request: through the global dispatcher, with the path, query, method, headers and body given', async () => {
    const got = await echoOf(await request(new URL('/v2/a/b/manifests/c?n=1&last=x', base), { method: 'POST', headers: { 'user-agent': 'stowage-test' }, body: 'hello' }));
    expect(got).toEqual({ method: 'POST', url: '/v2/a/b/manifests/c?n=1&last=x', body: 'hello', agent: 'stowage-test' });
    // As the index: GET by default, PUT when there is a body.
    expect((await echoOf(await request(new URL('/plain', base)))).method).toBe('GET');
    expect((await echoOf(await request(new URL('/put', base), { body: 'x' }))).method).toBe('PUT');
  });

  it('request: through an Agent made here and through the public one', async () => {
    const mine = new Agent();
    const theirs = new undici.Agent();
    try {
      expect((await echoOf(await request(new URL('/mine', base), { dispatcher: mine }))).url).toBe('/mine');
      expect((await echoOf(await request(new URL('/theirs', base), { dispatcher: theirs }))).url).toBe('/theirs');
    } finally {
      await Promise.all([mine.close(), theirs.close()]);
    }
  });

  it("request: through a caller's own Dispatcher (a wrapper, and undici's MockAgent)", async () => {
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
      expect((await echoOf(await request(new URL('/wrapped?x=1', base), { dispatcher: new Recording() }))).url).toBe('/wrapped?x=1');
      expect(seen).toEqual(['GET /wrapped?x=1']);
      const mocked = await request(new URL('https://registry.test/v2/'), { dispatcher: mock });
      expect(mocked.statusCode).toBe(200);
      expect(await mocked.body.json()).toEqual({ mocked: true });
    } finally {
      await Promise.all([inner.close(), mock.close()]);
    }
  });

  it("request: without a dispatcher, the global one a caller set with undici's setGlobalDispatcher", async () => {
    const previous = undici.getGlobalDispatcher();
    const mock = new undici.MockAgent();
    mock.disableNetConnect();
    mock.get('https://registry.test').intercept({ path: '/v2/', method: 'GET' }).reply(401, 'global');
    undici.setGlobalDispatcher(mock);
    try {
      const answer = await request(new URL('https://registry.test/v2/'));
      expect(answer.statusCode).toBe(401);
      expect(await answer.body.text()).toBe('global');
    } finally {
      undici.setGlobalDispatcher(previous);
      await mock.close();
    }
  });

  it("request: undici's errors, as the index gives them", async () => {
    expect(() => request(new URL('ftp://registry.test/'))).toThrow(undici.errors.InvalidArgumentError);
    const agent = new Agent();
    try {
      const controller = new AbortController();
      controller.abort();
      await expect(request(new URL('/aborted', base), { dispatcher: agent, signal: controller.signal })).rejects.toThrow();
      await expect(request(new URL('/timeout', base), { dispatcher: agent, headersTimeout: -1 })).rejects.toBeInstanceOf(undici.errors.InvalidArgumentError);
    } finally {
      await agent.close();
    }
  });
});
