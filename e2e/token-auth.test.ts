/**
 * The built CLI against a docker-registry in token mode (a token server fixture signs the JWTs): login then
 * push with one token request, the refresh-token flow after `login --identity-token`, and the failures a
 * user meets (pull-only account pushing, wrong password, token server down), each one clear line.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { uniqueRepository } from '../test/helpers/registry-harness.js';
import { useTokenRegistry } from '../test/helpers/token-server.js';
import { ok, stowage } from './helpers/cli.js';
import { expectOneError, listDir, workspace, type Workspace } from './helpers/fixtures.js';

const { registry, tokenServer } = useTokenRegistry();
let ws: Workspace;
let files: string[];

beforeAll(async () => {
  ws = await workspace('token');
  const src = await ws.mkdir('src');
  files = [];
  for (let i = 0; i < 20; i++) {
    const name = `file-${String(i).padStart(2, '0')}.txt`;
    await writeFile(join(src, name), `content of file ${i}\n`);
    files.push(name);
  }
});

afterAll(async () => {
  await ws.cleanup();
});

beforeEach(async () => {
  tokenServer().reset();
  await tokenServer().setReachable(true);
});

/** Runs the CLI with a private DOCKER_CONFIG of its own. */
async function withConfig(name: string): Promise<{ run: (args: string[], input?: string) => ReturnType<typeof stowage>; configFile: string }> {
  const dir = await ws.mkdir('configs', name);
  const env = { ...ws.env, DOCKER_CONFIG: dir };
  return {
    configFile: join(dir, 'config.json'),
    run: (args, input) => stowage(args, { cwd: ws.path('src'), env, ...(input === undefined ? {} : { input }) }),
  };
}

describe('token auth through the CLI', () => {
  it('logs in, then pushes twenty files with one token request and pulls them back', async () => {
    const { run } = await withConfig('alice');
    ok(await run(['login', registry().host, '-u', 'alice', '--password-stdin'], 'wonderland'), 'login');
    tokenServer().reset();
    const name = `${registry().host}/${uniqueRepository('token-push')}`;
    ok(await run(['push', `${name}:v1`, ...files]), 'push');
    // Scopes are declared up front: one GET for pull,push serves every HEAD, upload and the manifest.
    expect(tokenServer().count()).toBe(1);
    expect(tokenServer().count({ method: 'GET', user: 'alice' })).toBe(1);
    const out = await ws.mkdir('out-alice');
    ok(await run(['pull', `${name}:v1`, '-o', out]), 'pull');
    expect(await listDir(out)).toEqual(files);
  });

  it('after login --identity-token, exchanges the refresh token with OAuth2 POST and never sends a password', async () => {
    const { run, configFile } = await withConfig('identity');
    const refreshToken = tokenServer().issueRefreshToken('alice');
    ok(await run(['login', registry().host, '--identity-token-stdin'], refreshToken), 'login');
    const stored = JSON.parse(await readFile(configFile, 'utf8')) as { auths?: Record<string, { identitytoken?: string }> };
    expect(stored.auths?.[registry().host]?.identitytoken).toBe(refreshToken);
    tokenServer().reset();
    const name = `${registry().host}/${uniqueRepository('token-identity')}`;
    ok(await run(['push', `${name}:v1`, files[0]!]), 'push');
    expect(tokenServer().count({ method: 'POST', grantType: 'refresh_token' })).toBeGreaterThanOrEqual(1);
    expect(tokenServer().count({ method: 'GET' })).toBe(0);
    expect(tokenServer().count({ method: 'POST', grantType: 'password' })).toBe(0);
  });

  it('refuses a push by a pull-only account with one clear line', async () => {
    const { run } = await withConfig('reader');
    const name = `${registry().host}/${uniqueRepository('token-reader')}`;
    const result = await run(['push', `${name}:v1`, files[0]!, '-u', 'reader', '-p', 'read only']);
    expectOneError(result, 1, [name, /granted only pull/, /insufficient_scope/]);
  });

  it('rejects a wrong password at login and writes no config', async () => {
    const { run, configFile } = await withConfig('wrong');
    const result = await run(['login', registry().host, '-u', 'alice', '-p', 'not the password']);
    expectOneError(result, 1, [registry().host]);
    await expect(readFile(configFile)).rejects.toThrow(/ENOENT/);
  });

  it('names the token server when it cannot be reached', async () => {
    const { run } = await withConfig('down');
    await tokenServer().setReachable(false);
    const result = await run(['resolve', `${registry().host}/${uniqueRepository('token-down')}:v1`, '-u', 'alice', '-p', 'wonderland']);
    expectOneError(result, 1, [/request a token/, /cannot reach/]);
  });
});

/** A fixture registry whose every answer is a 401 with a challenge no client can use (a Bearer with no realm). */
async function malformedChallengeFixture(): Promise<{ host: string; server: Server }> {
  const server = createServer((_request, response) => {
    response.writeHead(401, { 'www-authenticate': 'Bearer service="x",scope=', 'content-type': 'application/json' });
    response.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { host: `127.0.0.1:${String((server.address() as AddressInfo).port)}`, server };
}

describe('a registry with a malformed challenge', () => {
  it('fails login with one clear line and writes no config', async () => {
    const { host, server } = await malformedChallengeFixture();
    try {
      const { run, configFile } = await withConfig('malformed');
      const result = await run(['login', host, '-u', 'alice', '-p', 'wonderland']);
      expectOneError(result, 1, [host, /realm/]);
      await expect(readFile(configFile)).rejects.toThrow(/ENOENT/);
    } finally {
      server.close();
    }
  });
});
