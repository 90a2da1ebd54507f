/** HttpClient's onExchange hook (what --debug prints): every hop reported, secrets never. */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, discardBody, type HttpExchangeEvent } from '../../src/registry/http.js';
import { freePort } from '../helpers/registry-harness.js';
import { expectCode } from '../helpers/store-contract.js';

const username = 'erin';
const password = 'never-print-me';
const basic = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

let server: Server;
let origin: string;

beforeAll(async () => {
  // A Basic-auth origin that sets a cookie and redirects /v2/redirect to /v2/ with a token in the query.
  server = createServer((req, res) => {
    if (req.headers.authorization !== basic) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="debug-test"' }).end();
      return;
    }
    if (req.url === '/v2/redirect') {
      res.writeHead(307, { location: '/v2/?access_token=also-secret&n=1' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'session=cookie-secret' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  origin = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function clientWith(events: HttpExchangeEvent[]): HttpClient {
  return new HttpClient({
    credentials: (host) => (host === new URL(origin).host ? { username, password } : undefined),
    headers: { Cookie: 'jar=cookie-secret' },
    onExchange: (event) => events.push(event),
  });
}

describe('HttpClient onExchange', () => {
  it('reports each request and answer, with Authorization reduced to its scheme and no secret anywhere', async () => {
    const events: HttpExchangeEvent[] = [];
    const response = await clientWith(events).send({ method: 'GET', url: `${origin}/v2/redirect` });
    await discardBody(response);
    expect(response.status).toBe(200);
    // 401 challenge, authenticated retry (307), redirected hop (200): three requests, three answers.
    expect(events.map((event) => `${event.kind} ${event.id}`)).toEqual(['request 1', 'response 1', 'request 2', 'response 2', 'request 3', 'response 3']);
    const [first, , retry, redirect, hop, answer] = events;
    expect(first).toMatchObject({ kind: 'request', method: 'GET', url: `${origin}/v2/redirect` });
    expect(first?.kind === 'request' && first.headers['user-agent']).toMatch(/^stowage\//);
    expect(retry?.kind === 'request' && retry.headers.authorization).toBe('Basic ***');
    expect(redirect).toMatchObject({ kind: 'response', status: 307, headers: { location: '/v2/?access_token=***&n=1' } });
    expect(hop).toMatchObject({ kind: 'request', url: `${origin}/v2/?access_token=***&n=1` });
    expect(answer).toMatchObject({ kind: 'response', status: 200, headers: { 'set-cookie': '***' } });
    for (const event of events) if (event.kind !== 'request') expect(event.durationMs).toBeGreaterThanOrEqual(0);
    const shown = JSON.stringify(events);
    for (const secret of [password, basic.slice('Basic '.length), 'cookie-secret', 'also-secret']) expect(shown).not.toContain(secret);
  });

  it('reports a connection that fails, and a listener that throws breaks nothing', async () => {
    const events: HttpExchangeEvent[] = [];
    const port = await freePort();
    await expectCode(clientWith(events).send({ method: 'GET', url: `http://127.0.0.1:${port}/v2/` }), 'NETWORK');
    expect(events.map((event) => event.kind)).toEqual(['request', 'error']);
    expect(events[1]).toMatchObject({ kind: 'error', message: expect.stringContaining('ECONNREFUSED') as unknown });

    const throwing = new HttpClient({
      credentials: () => ({ username, password }),
      onExchange: () => {
        throw new Error('listener bug');
      },
    });
    const response = await throwing.send({ method: 'GET', url: `${origin}/v2/` });
    await discardBody(response);
    expect(response.status).toBe(200);
  });
});
