/**
 * The parts of undici stowage uses, loaded from undici's own files rather than its index: the index also
 * loads fetch, WebSocket, cookies, caches and mocks, about 110 files and a tenth of a second at every start
 * of the CLI. The values are undici's own (the same classes the index exports, so a caller's undici
 * Dispatcher works as before); the types are undici's public ones (`src/types/undici-lib.d.ts`).
 * `test/registry/undici.test.ts` fails if an undici upgrade moves these files.
 */
import type { Dispatcher, Agent as AgentClass, EnvHttpProxyAgent as EnvHttpProxyAgentClass, buildConnector as buildConnectorFunction } from 'undici';
import agent from 'undici/lib/dispatcher/agent.js';
import envHttpProxyAgent from 'undici/lib/dispatcher/env-http-proxy-agent.js';
import connect from 'undici/lib/core/connect.js';
import errors from 'undici/lib/core/errors.js';
import global from 'undici/lib/global.js';
import dispatchRequest from 'undici/lib/api/api-request.js';

/** undici's `Agent`. */
export const Agent: typeof AgentClass = agent;

/** undici's `EnvHttpProxyAgent`. */
export const EnvHttpProxyAgent: typeof EnvHttpProxyAgentClass = envHttpProxyAgent;

/** undici's `buildConnector`. */
export const buildConnector: typeof buildConnectorFunction = connect;

/** What {@link buildConnector} returns: opens the socket of a connection. */
export type Connector = buildConnectorFunction.connector;

/** The options of {@link request}, as undici's top-level `request` takes them. */
export type RequestOptions<TOpaque = null> = { dispatcher?: Dispatcher } & Omit<Dispatcher.RequestOptions<TOpaque>, 'origin' | 'path' | 'method'> &
  Partial<Pick<Dispatcher.RequestOptions<TOpaque>, 'method'>>;

/**
 * undici's top-level `request(url, options)` for a `URL`, as the index's wrapper does it: the request goes
 * through `options.dispatcher` (default: undici's global dispatcher), any undici-compatible Dispatcher.
 * @throws undici's `InvalidArgumentError` (at once) for a URL that is not http: or https:; the promise
 *   rejects with undici's errors.
 */
export function request<TOpaque = null>(url: URL, options: RequestOptions<TOpaque> = {}): Promise<Dispatcher.ResponseData<TOpaque>> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new errors.InvalidArgumentError('Invalid URL protocol: the URL must start with `http:` or `https:`.');
  }
  const { dispatcher = global.getGlobalDispatcher(), ...rest } = options;
  // The index's default method: PUT when there is a body.
  const method = rest.method ?? (rest.body === undefined || rest.body === null || rest.body === '' ? 'GET' : 'PUT');
  const send: (this: Dispatcher, options: Dispatcher.RequestOptions<TOpaque>) => Promise<Dispatcher.ResponseData<TOpaque>> = dispatchRequest;
  return send.call(dispatcher, { ...rest, origin: url.origin, path: `${url.pathname}${url.search}`, method });
}
