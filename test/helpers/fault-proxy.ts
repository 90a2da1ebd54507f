/**
 * A test fixture, not a real proxy: an in-process HTTP reverse proxy on 127.0.0.1 in front of a registry
 * (the harness's URL) that injects faults on a script. Each {@link FaultRule} picks requests by method, path
 * and occurrence, and does one {@link Fault} to them: answer a status (with `Retry-After`), reset the
 * connection (before the answer, after N bytes of the response body, or after N bytes of the request body),
 * stall (never answer, or stop mid-body) for a while, or truncate the body (fewer bytes than
 * `Content-Length`, then a clean close). Everything else is forwarded as it is, except that the upstream's
 * absolute `Location` headers (docker-registry sends them for upload sessions) are rewritten to point at
 * the proxy, so a client stays on it. It counts requests, the client connections they came on, and body
 * bytes in each direction.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** What to do to a request a rule picks. */
export type Fault =
  /** Answer this status (the request is not forwarded), with a distribution-style JSON error body. */
  | { kind: 'status'; status: number; retryAfter?: string; errorCode?: string }
  /**
   * Reset the connection (TCP RST). Without `afterBytes`: as soon as the request arrives, before any answer.
   * With `afterBytes`: after that many bytes of the response body (`of: 'response'`, the default; the
   * request is forwarded) or of the request body (`of: 'request'`; the request is not forwarded).
   */
  | { kind: 'reset'; afterBytes?: number; of?: 'response' | 'request' }
  /**
   * Stop answering for `ms`, then close the connection. Without `afterBytes`: read the request and send
   * nothing. With it: forward, send the headers and that many body bytes, then nothing.
   */
  | { kind: 'stall'; ms: number; afterBytes?: number }
  /** Forward, send the headers (the full `Content-Length`) and `afterBytes` of the body, then close cleanly (FIN). */
  | { kind: 'truncate'; afterBytes: number };

/** One line of a fault script. */
export interface FaultRule {
  /** `GET`, `HEAD`, `PUT`, …; any method when absent. */
  method?: string;
  /** Tested against the request's path without its query, e.g. `/\/blobs\/uploads\/$/`. */
  path: RegExp;
  /** The first matching request to fault, counting from 1. Default 1. */
  nth?: number;
  /** How many matching requests to fault from the `nth` on. Default 1; `Infinity` for all. */
  count?: number;
  fault: Fault;
}

/** One request through the proxy. */
export interface ProxiedExchange {
  method: string;
  /** Path and query as asked. */
  path: string;
  /** The fault done to it, if any. */
  fault?: Fault['kind'];
  /** The status sent to the client (absent when none was: reset or stalled before the answer). */
  status?: number;
  /** Request body bytes received from the client. */
  bytesUp: number;
  /** Response body bytes sent to the client. */
  bytesDown: number;
  /** `performance.now()` when the request arrived. */
  receivedAt: number;
  /** `performance.now()` when its answer (or fault) was over. */
  endedAt?: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`, as in a reference. */
  host: string;
  /** Every request so far, in order of arrival. */
  exchanges: ProxiedExchange[];
  /** Body bytes through the proxy so far: `up` from clients, `down` to clients. */
  bytes: { up: number; down: number };
  /** Client connections accepted so far. */
  readonly connections: number;
  /** Replaces the script (occurrences are counted afresh). An empty list forwards everything. */
  script(rules: readonly FaultRule[]): void;
  /** Forgets the exchanges, connections and byte counts, and the script. */
  reset(): void;
  stop(): Promise<void>;
}

interface ActiveRule {
  rule: FaultRule;
  seen: number;
}

function errorBody(status: number, code = 'UNAVAILABLE'): string {
  return JSON.stringify({ errors: [{ code, message: `fault proxy: injected ${status}` }] });
}

/**
 * Starts the proxy in front of `upstream` (`http://host:port` of the registry).
 * @throws Error when `upstream` is not a plain-HTTP URL.
 */
export async function startFaultProxy(upstream: string, rules: readonly FaultRule[] = []): Promise<FaultProxy> {
  const target = new URL(upstream);
  if (target.protocol !== 'http:') throw new Error(`fault proxy: plain HTTP upstreams only, not ${upstream}`);
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  let connections = 0;
  const timers = new Set<NodeJS.Timeout>();
  let active: ActiveRule[] = [];
  const exchanges: ProxiedExchange[] = [];
  const bytes = { up: 0, down: 0 };
  let origin = '';

  const later = (ms: number, action: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      action();
    }, ms);
    timers.add(timer);
  };

  const pick = (method: string, path: string): Fault | undefined => {
    let chosen: Fault | undefined;
    for (const entry of active) {
      if ((entry.rule.method !== undefined && entry.rule.method !== method) || !entry.rule.path.test(path)) continue;
      entry.seen++;
      const first = entry.rule.nth ?? 1;
      if (chosen === undefined && entry.seen >= first && entry.seen < first + (entry.rule.count ?? 1)) chosen = entry.rule.fault;
    }
    return chosen;
  };

  const rewriteLocation = (headers: OutgoingHttpHeaders): void => {
    const location = headers.location;
    if (typeof location !== 'string') return;
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      return; // relative: already on the proxy
    }
    if (url.origin === target.origin) headers.location = `${origin}${url.pathname}${url.search}${url.hash}`;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const exchange: ProxiedExchange = { method, path, bytesUp: 0, bytesDown: 0, receivedAt: performance.now() };
    exchanges.push(exchange);
    const fault = pick(method, new URL(path, 'http://proxy').pathname);
    if (fault !== undefined) exchange.fault = fault.kind;
    const socket = req.socket;
    const end = (): void => {
      exchange.endedAt ??= performance.now();
    };
    const countUp = (chunk: Buffer): void => {
      exchange.bytesUp += chunk.byteLength;
      bytes.up += chunk.byteLength;
    };

    if (fault?.kind === 'status') {
      req.on('data', countUp);
      req.once('end', () => {
        const body = errorBody(fault.status, fault.errorCode);
        const headers: OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
        if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
        exchange.status = fault.status;
        res.writeHead(fault.status, headers).end(method === 'HEAD' ? undefined : body, end);
      });
      return;
    }
    if (fault?.kind === 'reset' && fault.afterBytes === undefined) {
      end();
      socket.resetAndDestroy();
      return;
    }
    if (fault?.kind === 'reset' && fault.of === 'request') {
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        const room = (fault.afterBytes ?? 0) - received;
        const taken = Math.min(room, chunk.byteLength);
        received += taken;
        countUp(chunk.subarray(0, taken));
        if (received >= (fault.afterBytes ?? 0) && !socket.destroyed) {
          end();
          socket.resetAndDestroy();
        }
      });
      return;
    }
    if (fault?.kind === 'stall' && fault.afterBytes === undefined) {
      req.on('data', countUp);
      later(fault.ms, () => {
        end();
        socket.destroy();
      });
      return;
    }

    // Forwarded, with a fault mid-body perhaps.
    const limit = fault?.kind === 'reset' || fault?.kind === 'truncate' || fault?.kind === 'stall' ? fault.afterBytes : undefined;
    const upstreamRequest = httpRequest(
      { host: target.hostname, port: target.port, method, path, agent, headers: { ...req.headers, host: target.host } },
      (answer) => {
        const headers: OutgoingHttpHeaders = { ...answer.headers };
        rewriteLocation(headers);
        exchange.status = answer.statusCode ?? 502;
        res.writeHead(answer.statusCode ?? 502, headers);
        let sent = 0;
        const stop = (): void => {
          answer.destroy();
          end();
          if (fault?.kind === 'reset') socket.resetAndDestroy();
          else if (fault?.kind === 'truncate') socket.end();
          else if (fault?.kind === 'stall') {
            later(fault.ms, () => {
              socket.destroy();
            });
          }
        };
        if (limit === 0) {
          // Headers out first, then the fault.
          res.flushHeaders();
          setImmediate(stop);
          return;
        }
        answer.on('data', (chunk: Buffer) => {
          let piece = chunk;
          const over = limit !== undefined && sent + chunk.byteLength >= limit;
          if (limit !== undefined && over) piece = chunk.subarray(0, limit - sent);
          sent += piece.byteLength;
          exchange.bytesDown += piece.byteLength;
          bytes.down += piece.byteLength;
          const flushed = res.write(piece);
          if (over) {
            answer.pause();
            if (flushed) stop();
            else res.once('drain', stop);
            return;
          }
          if (!flushed) {
            answer.pause();
            res.once('drain', () => answer.resume());
          }
        });
        answer.once('end', () => {
          if (limit === undefined || sent < limit) res.end(end);
        });
        answer.once('error', () => {
          socket.destroy();
        });
      },
    );
    upstreamRequest.once('error', (error) => {
      if (res.headersSent) {
        socket.destroy();
        return;
      }
      const body = `fault proxy: upstream failed: ${error.message}`;
      exchange.status = 502;
      res.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }).end(body, end);
    });
    res.once('close', () => {
      if (!res.writableFinished) upstreamRequest.destroy();
    });
    req.on('data', countUp);
    req.pipe(upstreamRequest);
  };

  const server: Server = createServer({ keepAlive: true }, handle);
  server.on('connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {
      // Resets are this fixture's trade.
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy: no address');
  const host = `127.0.0.1:${address.port}`;
  origin = `http://${host}`;
  const proxy: FaultProxy = {
    url: origin,
    host,
    exchanges,
    bytes,
    get connections() {
      return connections;
    },
    script(next) {
      active = next.map((rule) => ({ rule, seen: 0 }));
    },
    reset() {
      connections = 0;
      exchanges.length = 0;
      bytes.up = 0;
      bytes.down = 0;
      active = [];
    },
    async stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
  proxy.script(rules);
  return proxy;
}
