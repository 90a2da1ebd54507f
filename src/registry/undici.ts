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
import global from 'undici/lib/global.js';

/** undici's `Agent`. */
export const Agent: typeof AgentClass = agent;

/** undici's `EnvHttpProxyAgent`. */
export const EnvHttpProxyAgent: typeof EnvHttpProxyAgentClass = envHttpProxyAgent;

/** undici's `buildConnector`. */
export const buildConnector: typeof buildConnectorFunction = connect;

/** What {@link buildConnector} returns: opens the socket of a connection. */
export type Connector = buildConnectorFunction.connector;

/** undici's global dispatcher: the one requests go through when the caller gave none. */
export function getGlobalDispatcher(): Dispatcher {
  return global.getGlobalDispatcher();
}
