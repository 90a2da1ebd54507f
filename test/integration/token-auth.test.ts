/**
 * Token (Bearer) auth against a real docker-registry in token mode, with the token server fixture signing
 * the JWTs and counting requests: push and pull with a user and anonymously, one token for a whole push,
 * expiry, identity (refresh) tokens, insufficient scope, and the errors a user sees.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import type { Credentials } from '../../src/registry/auth/handler.js';
import { RegistryAuthHandler } from '../../src/registry/auth/registry-auth.js';
import { HttpClient } from '../../src/registry/http.js';
import { RemoteRegistry } from '../../src/registry/registry.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import type { RepositoryAction } from '../../src/registry/auth/scope.js';
import { pullFiles, pushFiles, sha256File, writeRandomFile } from '../helpers/artifacts.js';
import { uniqueRepository } from '../helpers/registry-harness.js';
import { expectCode, pushImage, randomBlob, rejection } from '../helpers/store-contract.js';
import { useTokenRegistry } from '../helpers/token-server.js';

const { registry, tokenServer } = useTokenRegistry();

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'stowage-token-auth-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});
afterEach(() => {
  // Each test configures what it needs; put the defaults back.
  tokenServer().configure({ anonymous: [], expiresIn: 300, oauth2: true, rotateRefreshTokens: false });
  tokenServer().expireNextTokens(0);
});

function as(credentials: Credentials | undefined): (host: string) => Credentials | undefined {
  return (host) => (host === registry().host ? credentials : undefined);
}

const alice: Credentials = { username: 'alice', password: 'wonderland' };
const reader: Credentials = { username: 'reader', password: 'read only' };

function repository(options: { credentials?: Credentials | undefined; name?: string; actions?: RepositoryAction[]; client?: HttpClient } = {}): RemoteRepository {
  return new RemoteRepository({
    registry: registry().host,
    repository: options.name ?? uniqueRepository('token'),
    ...(options.client === undefined ? { credentials: as(options.credentials) } : { client: options.client }),
    ...(options.actions === undefined ? {} : { actions: options.actions }),
  });
}

/** Writes `count` small random files under a new directory; returns it and the names. */
async function someFiles(count: number, size = 1024): Promise<{ dir: string; names: string[] }> {
  const dir = await mkdtemp(join(work, 'files-'));
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `file-${String(i).padStart(2, '0')}.bin`;
    await writeRandomFile(join(dir, name), size);
    names.push(name);
  }
  return { dir, names };
}

/** Pulls `tag` into a new directory and checks every file against the pushed one. */
async function pullAndCompare(repo: RemoteRepository, tag: string, from: { dir: string; names: string[] }): Promise<void> {
  const out = await mkdtemp(join(work, 'pulled-'));
  await pullFiles(repo, tag, out);
  for (const name of from.names) expect(await sha256File(join(out, name))).toBe(await sha256File(join(from.dir, name)));
}

describe('token auth against docker-registry', () => {
  it('pushes and pulls with a user: GET with Basic credentials, tokens signed by the fixture', async () => {
    const files = await someFiles(3);
    const name = uniqueRepository('token');
    tokenServer().reset();
    await pushFiles(repository({ credentials: alice, name, actions: ['pull', 'push'] }), 'v1', files.dir, files.names);
    await pullAndCompare(repository({ credentials: alice, name, actions: ['pull'] }), 'v1', files);
    expect(tokenServer().count({ method: 'GET', user: 'alice', status: 200 })).toBe(2);
    expect(tokenServer().count({ method: 'POST' })).toBe(0);
    expect(tokenServer().count({ scope: `repository:${name}:pull,push` })).toBe(1);
    expect(tokenServer().count({ scope: `repository:${name}:pull` })).toBe(1);
  });

  it('makes one token request for a push of twenty files when the push declares its scopes up front', async () => {
    const files = await someFiles(20);
    tokenServer().reset();
    const repo = repository({ credentials: alice, actions: ['pull', 'push'] });
    await pushFiles(repo, 'v1', files.dir, files.names, { concurrency: 20 });
    expect(tokenServer().count()).toBe(1);
    expect(tokenServer().requests[0]?.scopes).toEqual([`repository:${repo.repository}:pull,push`]);
    // Without declared scopes the first HEAD asks for pull and the first upload for pull,push: two tokens,
    // still shared by all twenty parallel uploads (single flight).
    tokenServer().reset();
    await pushFiles(repository({ credentials: alice }), 'v1', files.dir, files.names, { concurrency: 20 });
    expect(tokenServer().count()).toBe(2);
  });

  it('pulls anonymously when the token server allows it, and refuses with UNAUTHORIZED when not', async () => {
    const files = await someFiles(2);
    const name = uniqueRepository('token');
    await pushFiles(repository({ credentials: alice, name, actions: ['pull', 'push'] }), 'v1', files.dir, files.names);

    tokenServer().configure({ anonymous: ['pull'] });
    tokenServer().reset();
    await pullAndCompare(repository({ name }), 'v1', files);
    expect(tokenServer().count({ method: 'GET', user: undefined })).toBe(1);

    tokenServer().configure({ anonymous: [] });
    const error = await rejection(repository({ name }).resolve('v1'));
    expect(isStowageError(error, 'UNAUTHORIZED'), String(error)).toBe(true);
    expect(String(error)).toContain(`resolve ${registry().host}/${name}:v1: anonymous access is not enough`);
    expect(String(error)).toContain('granted nothing (insufficient_scope); log in with an account that may pull');
  });

  it('fetches a new token once the cached one has expired, and the operation succeeds', async () => {
    tokenServer().configure({ expiresIn: 1 });
    const repo = repository({ credentials: alice, actions: ['pull', 'push'] });
    tokenServer().reset();
    const { manifest } = await pushImage(repo);
    expect(tokenServer().count()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await repo.resolve(manifest.desc.digest)).toEqual(manifest.desc);
    expect(tokenServer().count()).toBe(2);
  });

  it('fetches a new token when the registry refuses one the client still holds (invalid_token)', async () => {
    const repo = repository({ credentials: alice, actions: ['pull', 'push'] });
    const { manifest } = await pushImage(repo);
    const client = new HttpClient({ credentials: as(alice) });
    // The client learns that the host uses tokens (and caches a token for no scope).
    expect(await new RemoteRegistry({ registry: registry().host, client }).ping()).toEqual({ authorized: true });
    const reading = repository({ name: repo.repository, client });
    // The next token has expired for the registry, though the client would keep it for 300 s: sent up
    // front, refused with invalid_token, dropped and fetched again.
    tokenServer().expireNextTokens(1);
    tokenServer().reset();
    expect(await reading.resolve(manifest.desc.digest)).toEqual(manifest.desc);
    expect(tokenServer().count()).toBe(2);
    // The good token is cached now.
    expect(await reading.exists(manifest.desc)).toBe(true);
    expect(tokenServer().count()).toBe(2);
  });

  it('uses an identity token with OAuth2 POST grant_type=refresh_token (as after login --identity-token)', async () => {
    const files = await someFiles(3);
    const name = uniqueRepository('token');
    const identityToken = tokenServer().issueRefreshToken('alice');
    tokenServer().reset();
    // As docker's credential helpers hand it out...
    await pushFiles(repository({ credentials: { username: '<token>', password: identityToken }, name, actions: ['pull', 'push'] }), 'v1', files.dir, files.names);
    // ...and as an explicit field.
    await pullAndCompare(repository({ credentials: { username: '', password: '', identityToken }, name, actions: ['pull'] }), 'v1', files);
    expect(tokenServer().count({ method: 'POST', grantType: 'refresh_token', user: 'alice', status: 200 })).toBe(2);
    expect(tokenServer().count({ method: 'GET' })).toBe(0);
  });

  it('keeps a rotated refresh token in memory and reports it for the credential store', async () => {
    tokenServer().configure({ rotateRefreshTokens: true, expiresIn: 1 });
    const first = tokenServer().issueRefreshToken('alice');
    const reported: string[] = [];
    const auth = new RegistryAuthHandler({
      credentials: as({ username: '<token>', password: first }),
      onIdentityToken: (host, token) => {
        expect(host).toBe(registry().host);
        reported.push(token);
      },
    });
    const repo = repository({ client: new HttpClient({ auth }), actions: ['pull', 'push'] });
    const { manifest } = await pushImage(repo);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    // The first refresh token no longer works at the server: the rotated one is used.
    expect(await repo.resolve(manifest.desc.digest)).toEqual(manifest.desc);
    expect(reported).toHaveLength(2);
    expect(new Set([first, ...reported]).size).toBe(3);
  });

  it('asks with grant_type=password when told to, and falls back to GET when the server has no OAuth2', async () => {
    const auth = (): RegistryAuthHandler => new RegistryAuthHandler({ credentials: as(alice), forceOAuth2: true });
    tokenServer().reset();
    await pushImage(repository({ client: new HttpClient({ auth: auth() }), actions: ['pull', 'push'] }));
    expect(tokenServer().count({ method: 'POST', grantType: 'password', status: 200 })).toBe(1);
    expect(tokenServer().count({ method: 'GET' })).toBe(0);

    tokenServer().configure({ oauth2: false });
    tokenServer().reset();
    await pushImage(repository({ client: new HttpClient({ auth: auth() }), actions: ['pull', 'push'] }));
    expect(tokenServer().count({ method: 'POST', status: 404 })).toBe(1);
    expect(tokenServer().count({ method: 'GET', user: 'alice', status: 200 })).toBe(1);
  });

  it('refuses a push by a pull-only user with one clear DENIED error', async () => {
    const files = await someFiles(5);
    const name = uniqueRepository('token');
    await pushFiles(repository({ credentials: alice, name, actions: ['pull', 'push'] }), 'v1', files.dir, files.names);
    tokenServer().reset();
    const error = await rejection(pushFiles(repository({ credentials: reader, name, actions: ['pull', 'push'] }), 'v2', files.dir, [...files.names, 'extra.bin'].slice(0, 5), { created: false }));
    expect(isStowageError(error, 'DENIED'), String(error)).toBe(true);
    expect(String(error)).toMatch(new RegExp(`^StowageError: push (blob|manifest) ${registry().host}/${name}[@:]`));
    expect(String(error)).toContain('the token server at ' + tokenServer().realm + ' granted only pull (insufficient_scope); check that your account may push');
    // One token: asked for pull,push, granted pull; no second attempt for the same scope.
    expect(tokenServer().count()).toBe(1);
    // The pull-only user can still pull.
    await pullAndCompare(repository({ credentials: reader, name, actions: ['pull'] }), 'v1', files);
  });

  it('fails with UNAUTHORIZED naming the registry when the token server refuses the password', async () => {
    const repo = repository({ credentials: { username: 'alice', password: 'queen of hearts' } });
    const error = await rejection(repo.resolve('latest'));
    expect(isStowageError(error, 'UNAUTHORIZED'), String(error)).toBe(true);
    expect(String(error)).toContain(`resolve ${repo.display('latest')}: request a token from ${tokenServer().realm}: the token server refused the credentials of "alice" for ${registry().host}`);
    // A bad identity token too.
    await expectCode(repository({ credentials: { username: '', password: '', identityToken: 'rt-revoked' } }).resolve('latest'), 'UNAUTHORIZED');
  });

  it('fails with NETWORK naming the realm when the token server is unreachable', async () => {
    await tokenServer().setReachable(false);
    try {
      const error = await rejection(repository({ credentials: alice }).resolve('latest'));
      expect(isStowageError(error, 'NETWORK'), String(error)).toBe(true);
      expect(String(error)).toContain(`request a token from ${tokenServer().realm}: cannot reach 127.0.0.1`);
    } finally {
      await tokenServer().setReachable(true);
    }
  });

  it('pings and lists tags with a token, and a blob upload of many parallel pushes shares the token', async () => {
    const client = new HttpClient({ credentials: as(alice) });
    const remote = new RemoteRegistry({ registry: registry().host, client });
    expect(await remote.ping()).toEqual({ authorized: true });
    const repo = remote.repository(uniqueRepository('token'));
    client.addScopes(repo.baseUrl.host, [`repository:${repo.repository}:pull,push`]);
    tokenServer().reset();
    const blobs = Array.from({ length: 10 }, () => randomBlob(2048));
    await Promise.all(blobs.map((blob) => repo.push(blob.desc, blob.bytes)));
    expect(tokenServer().count()).toBe(1);
  });
});

describe('token auth against a stand-in registry (fixture server)', () => {
  let server: Server;
  let host = '';
  // What the stand-in answers: a malformed challenge, or insufficient_scope for opaque tokens.
  let mode: 'malformed' | 'opaque' = 'malformed';
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers.authorization ?? '-'}`);
      if (req.url?.startsWith('/token') === true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token: 'opaque-token' }));
        return;
      }
      const challenge =
        mode === 'malformed'
          ? 'Bearer service="stand-in",scope="repository:app:pull"'
          : `Bearer realm="http://${host}/token",service="stand-in",scope="repository:app:pull,push"${req.headers.authorization === undefined ? '' : ',error="insufficient_scope"'}`;
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': challenge });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address !== 'object') throw new Error('no address');
    host = `127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fails a malformed Bearer challenge (no realm) with REGISTRY_ERROR', async () => {
    mode = 'malformed';
    const repo = new RemoteRepository({ registry: host, repository: 'app' });
    const error = await rejection(repo.resolve('v1'));
    expect(isStowageError(error, 'REGISTRY_ERROR'), String(error)).toBe(true);
    expect(String(error)).toBe(`StowageError: resolve ${host}/app:v1: the registry's Bearer challenge has no realm (the token server's URL)`);
  });

  it('fails with DENIED when an opaque token is refused with insufficient_scope after one retry', async () => {
    mode = 'opaque';
    seen.length = 0;
    const repo = new RemoteRepository({ registry: host, repository: 'app', credentials: () => ({ username: 'u', password: 'p' }) });
    const blob = randomBlob(10);
    const error = await rejection(repo.push(blob.desc, blob.bytes));
    expect(isStowageError(error, 'DENIED'), String(error)).toBe(true);
    expect(String(error)).toContain(`push blob ${host}/app@${blob.desc.digest}: `);
    expect(String(error)).toContain('insufficient_scope');
    // POST without auth, token, POST with the token (refused), nothing more.
    expect(seen.filter((line) => line.startsWith('POST /v2/'))).toHaveLength(2);
    expect(seen.filter((line) => line.startsWith('GET /token'))).toHaveLength(1);
  });
});
