/**
 * Types for the few CommonJS files of undici that `src/registry/undici.ts` loads by path instead of
 * undici's index (which loads fetch, WebSocket, cookies, caches and mocks: ~110 files at every start).
 * undici 7 has no `exports` map, so these paths resolve; each module's type is taken from undici's own
 * public types, so it stays exact. `test/registry/undici.test.ts` checks that each path still holds what
 * it is declared to hold. Type-only imports: nothing here exists at run time.
 */

declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';
  const agent: typeof Agent;
  export = agent;
}

declare module 'undici/lib/dispatcher/env-http-proxy-agent.js' {
  import type { EnvHttpProxyAgent } from 'undici';
  const envHttpProxyAgent: typeof EnvHttpProxyAgent;
  export = envHttpProxyAgent;
}

declare module 'undici/lib/core/connect.js' {
  import type { buildConnector } from 'undici';
  const connect: typeof buildConnector;
  export = connect;
}

declare module 'undici/lib/global.js' {
  import type { getGlobalDispatcher } from 'undici';
  const global: { getGlobalDispatcher: typeof getGlobalDispatcher };
  export = global;
}
