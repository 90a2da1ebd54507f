/**
 * A token server fixture (distribution "Token Authentication Specification"), in process on 127.0.0.1:
 * it makes an EC P-256 key and a self-signed certificate (openssl), signs ES256 JWTs with the certificate in
 * the `x5c` header, and answers GET `?service=&scope=` (Basic credentials or anonymous) and OAuth2 POST
 * (`grant_type=password|refresh_token`). It counts every request so tests can assert how many tokens a
 * client asked for. {@link useTokenRegistry} starts it with a docker-registry in token mode.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';
import { startRegistry, type RegistryOptions, type RunningRegistry } from './registry-harness.js';

const execFileAsync = promisify(execFile);

/** A user of the token server and the actions it may have on every repository. */
export interface TokenUser {
  password: string;
  /** Actions granted on any repository (`pull`, `push`, `delete`). */
  actions: readonly string[];
}

/** What the token server grants, and how. Every field can be changed later with {@link TokenServer.configure}. */
export interface TokenServerSettings {
  users: Record<string, TokenUser>;
  /** Actions granted without credentials (`[]`: anonymous tokens grant nothing, as Docker Hub's do for private repositories). */
  anonymous: readonly string[];
  /** `expires_in` of answers (and the tokens' lifetime); `undefined` leaves it out of answers (lifetime 60 s). */
  expiresIn: number | undefined;
  /** When false, POST answers 404 (a token server without OAuth2). */
  oauth2: boolean;
  /** When true, each refresh-token POST answers a new refresh token (and the old one stops working). */
  rotateRefreshTokens: boolean;
}

/** Options of {@link startTokenServer}. */
export interface TokenServerOptions extends Partial<TokenServerSettings> {
  /** Default `stowage-test-registry`. */
  service?: string;
  /** Default `stowage-test-token-issuer`. */
  issuer?: string;
}

/** One request the token server answered. */
export interface TokenRequestRecord {
  method: string;
  /** `password` or `refresh_token` for POST. */
  grantType: string | undefined;
  /** The authenticated user, if any. */
  user: string | undefined;
  /** The scopes asked for, sorted. */
  scopes: string[];
  status: number;
}

/** A running token server. */
export interface TokenServer {
  /** `http://127.0.0.1:PORT/token`: the realm the registry names. */
  realm: string;
  service: string;
  issuer: string;
  /** The PEM certificate whose key signs the tokens (the registry's `rootcertbundle`). */
  certificatePath: string;
  /** Every request answered so far. */
  readonly requests: readonly TokenRequestRecord[];
  /** How many requests were answered, optionally only those matching `filter`. */
  count(filter?: Partial<Pick<TokenRequestRecord, 'method' | 'grantType' | 'user' | 'status'>> & { scope?: string }): number;
  /** Forgets the requests counted so far. */
  reset(): void;
  /** Changes what the server grants from now on. */
  configure(settings: Partial<TokenServerSettings>): void;
  /** Makes the next `n` tokens already expired (beyond the registry's 60 s leeway), to test refusal by the registry. */
  expireNextTokens(n: number): void;
  /** A refresh token for `user`, as `login --identity-token` would have stored it. */
  issueRefreshToken(user: string): string;
  /** Stops listening (connections refused) or listens again on the same port. */
  setReachable(reachable: boolean): Promise<void>;
  stop(): Promise<void>;
}

const defaultUsers: Record<string, TokenUser> = {
  alice: { password: 'wonderland', actions: ['pull', 'push', 'delete'] },
  reader: { password: 'read only', actions: ['pull'] },
};

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** Makes an EC P-256 key and a self-signed certificate for it with the openssl CLI. */
async function makeKeyPair(dir: string, issuer: string): Promise<{ key: KeyObject; certificatePath: string; der: string }> {
  const keyPath = join(dir, 'token-key.pem');
  const certificatePath = join(dir, 'token-cert.pem');
  await execFileAsync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyPath, '-out', certificatePath, '-days', '2', '-subj', `/CN=${issuer}`,
  ]);
  const key = createPrivateKey(await readFile(keyPath));
  const der = new X509Certificate(await readFile(certificatePath)).raw.toString('base64');
  return { key, certificatePath, der };
}

/** Grants the requested actions the user may have: `[{type, name, actions}]` for the JWT `access` claim. */
function grant(scopes: readonly string[], allowed: readonly string[]): { type: string; name: string; actions: string[] }[] {
  const access: { type: string; name: string; actions: string[] }[] = [];
  for (const scope of scopes) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first <= 0 || last === first) continue;
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const requested = scope.slice(last + 1).split(',').filter((action) => action !== '');
    const actions = type === 'repository' ? requested.filter((action) => allowed.includes(action)) : requested.filter(() => allowed.includes('catalog'));
    access.push({ type, name, actions });
  }
  return access;
}

function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => { resolve(Buffer.concat(chunks).toString('utf8')); });
    req.on('error', reject);
  });
}

/** Starts a token server on a free 127.0.0.1 port. */
export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const service = options.service ?? 'stowage-test-registry';
  const issuer = options.issuer ?? 'stowage-test-token-issuer';
  const settings: TokenServerSettings = {
    users: options.users ?? defaultUsers,
    anonymous: options.anonymous ?? [],
    expiresIn: 'expiresIn' in options ? options.expiresIn : 300,
    oauth2: options.oauth2 ?? true,
    rotateRefreshTokens: options.rotateRefreshTokens ?? false,
  };
  const dir = await mkdtemp(join(tmpdir(), 'stowage-token-'));
  const { key, certificatePath, der } = await makeKeyPair(dir, issuer);
  const requests: TokenRequestRecord[] = [];
  const refreshTokens = new Map<string, string>();
  let expireNext = 0;

  const newRefreshToken = (user: string): string => {
    const token = `rt-${randomBytes(16).toString('hex')}`;
    refreshTokens.set(token, user);
    return token;
  };

  const signToken = (subject: string, access: { type: string; name: string; actions: string[] }[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = settings.expiresIn ?? 60;
    // An "expired" token is older than the registry's 60 s leeway for clock skew.
    const expired = expireNext > 0;
    if (expired) expireNext--;
    const iat = expired ? now - 600 : now;
    const claims = { iss: issuer, sub: subject, aud: service, exp: expired ? now - 300 : now + Math.ceil(lifetime), nbf: iat - 1, iat, jti: randomBytes(12).toString('hex'), access };
    const header = { typ: 'JWT', alg: 'ES256', x5c: [der] };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${base64url(signature)}`;
  };

  const answer = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const tokenAnswer = (user: string | undefined, scopes: string[], refreshToken: string | undefined): Record<string, unknown> => {
    const allowed = user === undefined ? settings.anonymous : (settings.users[user]?.actions ?? []);
    const token = signToken(user ?? '', grant(scopes, allowed));
    return {
      token,
      access_token: token,
      ...(settings.expiresIn === undefined ? {} : { expires_in: settings.expiresIn }),
      issued_at: new Date().toISOString(),
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token.fixture');
    const record: TokenRequestRecord = { method: req.method ?? '', grantType: undefined, user: undefined, scopes: [], status: 0 };
    const respond = (status: number, body: unknown, headers?: Record<string, string>): void => {
      record.status = status;
      requests.push(record);
      answer(res, status, body, headers);
    };
    if (url.pathname !== '/token') {
      respond(404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
      return;
    }
    if (req.method === 'GET') {
      record.scopes = url.searchParams.getAll('scope').flatMap((scope) => scope.split(' ')).filter((scope) => scope !== '').sort();
      if (url.searchParams.get('service') !== service) {
        respond(400, { details: `unknown service "${url.searchParams.get('service') ?? ''}"` });
        return;
      }
      const authorization = req.headers.authorization;
      let user: string | undefined;
      if (authorization !== undefined) {
        const match = /^Basic\s+(.+)$/i.exec(authorization);
        const decoded = match?.[1] === undefined ? '' : Buffer.from(match[1], 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const name = decoded.slice(0, colon);
        if (colon < 0 || settings.users[name]?.password !== decoded.slice(colon + 1)) {
          respond(401, { details: 'incorrect username or password' }, { 'www-authenticate': 'Basic realm="stowage-test-token"' });
          return;
        }
        user = name;
      }
      record.user = user;
      respond(200, tokenAnswer(user, record.scopes, undefined));
      return;
    }
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      record.grantType = form.get('grant_type') ?? undefined;
      record.scopes = (form.get('scope') ?? '').split(' ').filter((scope) => scope !== '').sort();
      if (!settings.oauth2) {
        respond(404, { details: 'OAuth2 is not supported here' });
        return;
      }
      if (form.get('service') !== service || (form.get('client_id') ?? '') === '') {
        respond(400, { error: 'invalid_request' });
        return;
      }
      if (record.grantType === 'password') {
        const name = form.get('username') ?? '';
        if (settings.users[name]?.password !== form.get('password')) {
          respond(401, { error: 'invalid_grant' });
          return;
        }
        record.user = name;
        respond(200, tokenAnswer(name, record.scopes, newRefreshToken(name)));
        return;
      }
      if (record.grantType === 'refresh_token') {
        const presented = form.get('refresh_token') ?? '';
        const name = refreshTokens.get(presented);
        if (name === undefined) {
          respond(401, { error: 'invalid_grant' });
          return;
        }
        record.user = name;
        let next = presented;
        if (settings.rotateRefreshTokens) {
          refreshTokens.delete(presented);
          next = newRefreshToken(name);
        }
        respond(200, tokenAnswer(name, record.scopes, next));
        return;
      }
      respond(400, { error: 'unsupported_grant_type' });
      return;
    }
    respond(405, { details: 'method not allowed' });
  };

  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) answer(res, 500, { details: String(error) });
      else res.destroy();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        const address = server.address();
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => { resolve(); });
      for (const socket of sockets) socket.destroy();
    });

  let port: number;
  try {
    port = await listen(0);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certificatePath,
    requests,
    count(filter = {}) {
      return requests.filter(
        (record) =>
          (filter.method === undefined || record.method === filter.method) &&
          (filter.grantType === undefined || record.grantType === filter.grantType) &&
          (filter.user === undefined || record.user === filter.user) &&
          (filter.status === undefined || record.status === filter.status) &&
          (filter.scope === undefined || record.scopes.includes(filter.scope)),
      ).length;
    },
    reset() {
      requests.length = 0;
    },
    configure(changes) {
      Object.assign(settings, changes);
    },
    expireNextTokens(n) {
      expireNext = n;
    },
    issueRefreshToken(user) {
      if (settings.users[user] === undefined) throw new Error(`no user ${user}`);
      return newRefreshToken(user);
    },
    async setReachable(reachable) {
      if (reachable && !server.listening) await listen(port);
      if (!reachable) await close();
    },
    async stop() {
      await close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Accessors for a token server and the registry that trusts it. */
export interface TokenRegistry {
  registry: () => RunningRegistry;
  tokenServer: () => TokenServer;
}

/**
 * Starts a token server and a docker-registry in token mode (realm, service, issuer and root certificate
 * from the token server) in `beforeAll`, stops both in `afterAll`; returns accessors for use inside tests.
 */
export function useTokenRegistry(options: TokenServerOptions = {}, registryOptions: Omit<RegistryOptions, 'auth' | 'token'> = {}): TokenRegistry {
  let server: TokenServer | undefined;
  let running: RunningRegistry | undefined;
  beforeAll(async () => {
    server = await startTokenServer(options);
    running = await startRegistry({
      ...registryOptions,
      auth: 'token',
      token: { realm: server.realm, service: server.service, issuer: server.issuer, rootCertBundle: server.certificatePath },
    });
  });
  afterAll(async () => {
    await running?.stop();
    await server?.stop();
    running = undefined;
    server = undefined;
  });
  return {
    registry: () => {
      if (running === undefined) throw new Error('the registry is not running (use the accessor inside tests)');
      return running;
    },
    tokenServer: () => {
      if (server === undefined) throw new Error('the token server is not running (use the accessor inside tests)');
      return server;
    },
  };
}
