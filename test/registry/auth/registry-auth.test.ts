import { describe, expect, it } from 'vitest';
import { StowageError } from '../../../src/errors.js';
import { parseChallenges } from '../../../src/registry/auth/challenge.js';
import type { AuthContext, Credentials } from '../../../src/registry/auth/handler.js';
import { RegistryAuthHandler, type RegistryAuthOptions } from '../../../src/registry/auth/registry-auth.js';
import type { HttpRequest, HttpResponse } from '../../../src/registry/http.js';
import { ResponseBody } from '../../../src/registry/response-body.js';

/** A request the fake token server saw. */
interface Seen {
  method: string;
  url: URL;
  authorization: string | undefined;
  form: URLSearchParams | undefined;
  operation: string | undefined;
}

type Answer = { status: number; json?: unknown; text?: string; headers?: Record<string, string> };

/** A fake transport: answers token requests with `answer`, records them. */
function tokenServer(answer: (seen: Seen, n: number) => Answer | Promise<Answer>): { send: (req: HttpRequest) => Promise<HttpResponse>; seen: Seen[] } {
  const seen: Seen[] = [];
  const send = async (req: HttpRequest): Promise<HttpResponse> => {
    const url = new URL(req.url);
    const body = req.body instanceof Uint8Array ? Buffer.from(req.body).toString('utf8') : undefined;
    const record: Seen = { method: req.method, url, authorization: req.headers?.authorization, form: body === undefined ? undefined : new URLSearchParams(body), operation: req.operation };
    seen.push(record);
    const reply = await answer(record, seen.length);
    const bytes = Buffer.from(reply.text ?? (reply.json === undefined ? '' : JSON.stringify(reply.json)));
    return {
      status: reply.status,
      headers: { 'content-type': 'application/json', 'content-length': String(bytes.byteLength), ...reply.headers },
      body: ResponseBody.of(bytes),
      url,
      operation: req.operation ?? '',
    };
  };
  return { send, seen };
}

function jwt(access: { type: string; name: string; actions: string[] }[], id = 'x'): string {
  return `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ jti: id, access })).toString('base64url')}.c2ln`;
}

/** Grants what is asked (a JWT with the asked scopes), numbered. */
const grantAll = (seen: Seen, n: number): Answer => {
  const scopes = seen.method === 'POST' ? (seen.form?.get('scope') ?? '').split(' ').filter(Boolean) : seen.url.searchParams.getAll('scope');
  const access = scopes.map((scope) => {
    const [type = '', name = '', actions = ''] = scope.split(':');
    return { type, name, actions: actions.split(',') };
  });
  return { status: 200, json: { token: jwt(access, `t${n}`), expires_in: 300 } };
};

const registryUrl = new URL('https://registry.example/v2/app/blobs/uploads/');

function contextFor(send: AuthContext['send'], scopes: string[] = ['repository:app:pull,push'], url = registryUrl): AuthContext {
  return { url, host: url.host, method: 'POST', scopes, operation: `push blob registry.example/app@sha256:abc`, send };
}

const bearer = (extra = ''): ReturnType<typeof parseChallenges> =>
  parseChallenges(`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull,push"${extra}`);

function handler(credentials: Credentials | undefined, options: RegistryAuthOptions = {}): RegistryAuthHandler {
  return new RegistryAuthHandler({ credentials: (host) => (host === 'registry.example' ? credentials : undefined), ...options });
}

async function refusal(promise: Promise<unknown>): Promise<StowageError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof StowageError) return error;
    throw error;
  }
  throw new Error('expected a StowageError');
}

describe('RegistryAuthHandler: Bearer', () => {
  it('sends nothing before a challenge, then a token for the request scopes, then the cached one up front', async () => {
    const server = tokenServer(grantAll);
    const auth = handler({ username: 'alice', password: 'wonderland' });
    const context = contextFor(server.send);
    expect(await auth.authorization(context)).toBeUndefined();
    expect(await auth.challenge(context, bearer(), undefined)).toBe(true);
    const header = await auth.authorization(context);
    expect(header).toMatch(/^Bearer /);
    // A subset of the scopes reuses the token; a new repository asks again.
    expect(await auth.authorization(contextFor(server.send, ['repository:app:pull']))).toBe(header);
    expect(await auth.authorization(contextFor(server.send, ['repository:other:pull']))).not.toBe(header);
    expect(server.seen).toHaveLength(2);
    const [first] = server.seen;
    expect(first?.method).toBe('GET');
    expect(first?.url.searchParams.get('service')).toBe('registry.example');
    expect(first?.url.searchParams.getAll('scope')).toEqual(['repository:app:pull,push']);
    expect(first?.url.searchParams.get('account')).toBe('alice');
    expect(first?.authorization).toBe(`Basic ${Buffer.from('alice:wonderland').toString('base64')}`);
    expect(first?.operation).toBe('push blob registry.example/app@sha256:abc: request a token from https://auth.example/token');
  });

  it('merges the challenge scope with the request scopes into one token request', async () => {
    const server = tokenServer(grantAll);
    const auth = handler(undefined);
    await auth.challenge(contextFor(server.send, ['repository:app:push', 'repository:base:pull']), bearer(), undefined);
    expect(server.seen[0]?.url.searchParams.getAll('scope')).toEqual(['repository:app:pull,push', 'repository:base:pull']);
    expect(server.seen[0]?.authorization).toBeUndefined();
  });

  it('makes one token request for twenty concurrent challenges (single flight)', async () => {
    const server = tokenServer(async (seen, n) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return grantAll(seen, n);
    });
    const auth = handler({ username: 'alice', password: 'wonderland' });
    const results = await Promise.all(Array.from({ length: 20 }, () => auth.challenge(contextFor(server.send), bearer(), undefined)));
    expect(results.every(Boolean)).toBe(true);
    expect(server.seen).toHaveLength(1);
  });

  it('looks credentials up once per host', async () => {
    const server = tokenServer(grantAll);
    let lookups = 0;
    const auth = new RegistryAuthHandler({
      credentials: () => {
        lookups++;
        return { username: 'alice', password: 'wonderland' };
      },
    });
    await auth.challenge(contextFor(server.send), bearer(), undefined);
    await auth.authorization(contextFor(server.send, ['repository:b:pull']));
    await auth.authorization(contextFor(server.send, ['repository:c:pull']));
    expect(server.seen).toHaveLength(3);
    expect(lookups).toBe(1);
  });

  it('renews a token after expires_in (60 s when absent)', async () => {
    let now = 0;
    const server = tokenServer((seen, n) => ({ status: 200, json: { access_token: `t${n}` } }));
    const auth = handler(undefined, { now: () => now });
    const context = contextFor(server.send);
    await auth.challenge(context, bearer(), undefined);
    expect(await auth.authorization(context)).toBe('Bearer t1');
    now += 50_000;
    expect(await auth.authorization(context)).toBe('Bearer t1');
    now += 5_000;
    expect(await auth.authorization(context)).toBe('Bearer t2');
  });

  it('drops a token the registry refuses (invalid_token) and fetches another', async () => {
    const server = tokenServer((seen, n) => ({ status: 200, json: { token: `t${n}` } }));
    const auth = handler(undefined);
    const context = contextFor(server.send);
    await auth.challenge(context, bearer(), undefined);
    expect(await auth.challenge(context, bearer(',error="invalid_token"'), 'Bearer t1')).toBe(true);
    expect(await auth.authorization(context)).toBe('Bearer t2');
  });

  it('asks once more with the wider scope of an insufficient_scope challenge, from then on for the host', async () => {
    const server = tokenServer(grantAll);
    const auth = handler({ username: 'alice', password: 'wonderland' });
    const narrow = contextFor(server.send, ['repository:app:pull']);
    await auth.challenge(narrow, parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull"'), undefined);
    const sent = await auth.authorization(narrow);
    expect(await auth.challenge(narrow, bearer(',error="insufficient_scope"'), sent)).toBe(true);
    expect(server.seen.map((seen) => seen.url.searchParams.getAll('scope'))).toEqual([['repository:app:pull'], ['repository:app:pull,push']]);
    expect(await auth.authorization(narrow)).not.toBe(sent);
  });

  it('fails with DENIED, saying what was granted, when the token was asked for the scope and granted less', async () => {
    const server = tokenServer(() => ({ status: 200, json: { token: jwt([{ type: 'repository', name: 'app', actions: ['pull'] }]) } }));
    const auth = handler({ username: 'reader', password: 'pw' });
    const context = contextFor(server.send);
    // The first challenge already shows (in the JWT) that push was not granted.
    const first = await refusal(auth.challenge(context, bearer(), undefined));
    expect(first.code).toBe('DENIED');
    expect(first.message).toBe(
      'push blob registry.example/app@sha256:abc: the token server at https://auth.example/token granted only pull (insufficient_scope); check that your account may push',
    );
    // Sent up front and refused with insufficient_scope: no second token request.
    const sent = await auth.authorization(context);
    const second = await refusal(auth.challenge(context, bearer(',error="insufficient_scope"'), sent));
    expect(second.code).toBe('DENIED');
    expect(server.seen).toHaveLength(1);
  });

  it('names each resource when a mount needs two, and says UNAUTHORIZED with a hint to log in when anonymous', async () => {
    const server = tokenServer(() => ({ status: 200, json: { token: jwt([{ type: 'repository', name: 'app', actions: ['pull', 'push'] }]) } }));
    const auth = handler(undefined);
    const challenges = parseChallenges('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull,push repository:base:pull"');
    const error = await refusal(auth.challenge(contextFor(server.send), challenges, undefined));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toContain('anonymous access is not enough: the token server at https://auth.example/token granted only pull,push on app, nothing on base (insufficient_scope); log in with an account that may pull base');
  });

  it('retries an opaque token (it cannot tell what it grants)', async () => {
    const server = tokenServer(() => ({ status: 200, json: { token: 'opaque' } }));
    const auth = handler({ username: 'alice', password: 'wonderland' });
    expect(await auth.challenge(contextFor(server.send), bearer(), undefined)).toBe(true);
    const error = await refusal(auth.challenge(contextFor(server.send), bearer(',error="insufficient_scope"'), 'Bearer opaque'));
    expect(error.message).toContain('did not grant repository:app:pull,push (insufficient_scope); check that your account may pull and push');
  });
});

describe('RegistryAuthHandler: OAuth2 and identity tokens', () => {
  it('uses POST grant_type=refresh_token with an identity token, given either way', async () => {
    for (const credentials of [{ username: '<token>', password: 'rt-1' }, { username: '', password: '', identityToken: 'rt-1' }]) {
      const server = tokenServer(grantAll);
      const auth = handler(credentials);
      await auth.challenge(contextFor(server.send), bearer(), undefined);
      expect(server.seen).toHaveLength(1);
      const [post] = server.seen;
      expect(post?.method).toBe('POST');
      expect(post?.authorization).toBeUndefined();
      expect(Object.fromEntries(post?.form ?? [])).toEqual({
        grant_type: 'refresh_token',
        refresh_token: 'rt-1',
        service: 'registry.example',
        client_id: 'stowage',
        scope: 'repository:app:pull,push',
      });
    }
  });

  it('keeps a new refresh token in memory and reports it', async () => {
    const server = tokenServer((seen, n) => ({ status: 200, json: { access_token: `t${n}`, refresh_token: `rt-${n + 1}` } }));
    const reported: [string, string][] = [];
    const auth = handler({ username: '<token>', password: 'rt-1' }, { onIdentityToken: (host, token) => { reported.push([host, token]); throw new Error('ignored'); } });
    await auth.challenge(contextFor(server.send), bearer(), undefined);
    await auth.authorization(contextFor(server.send, ['repository:b:pull']));
    expect(server.seen.map((seen) => seen.form?.get('refresh_token'))).toEqual(['rt-1', 'rt-2']);
    expect(reported).toEqual([['registry.example', 'rt-2'], ['registry.example', 'rt-3']]);
  });

  it('fails with UNAUTHORIZED when the identity token is refused, without a GET', async () => {
    const server = tokenServer(() => ({ status: 400, json: { error: 'invalid_grant' } }));
    const error = await refusal(handler({ username: '', password: '', identityToken: 'rt-old' }).challenge(contextFor(server.send), bearer(), undefined));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toContain('refused the identity token for registry.example (expired or revoked?); log in again');
    expect(server.seen).toHaveLength(1);
  });

  it('asks with grant_type=password when forced, falling back to GET on 404, 405 and 401', async () => {
    for (const status of [404, 405, 401]) {
      const server = tokenServer((seen, n) => (seen.method === 'POST' ? { status } : grantAll(seen, n)));
      await handler({ username: 'alice', password: 'wonderland' }, { forceOAuth2: true }).challenge(contextFor(server.send), bearer(), undefined);
      expect(server.seen.map((seen) => seen.method)).toEqual(['POST', 'GET']);
      expect(server.seen[0]?.form?.get('grant_type')).toBe('password');
      expect(server.seen[0]?.form?.get('username')).toBe('alice');
    }
  });
});

describe('RegistryAuthHandler: registry tokens', () => {
  it('sends a registry token (ORAS registrytoken) as it is, without a token server, and does not retry it', async () => {
    const server = tokenServer(grantAll);
    const auth = handler({ username: '', password: '', registryToken: 'reg-token' });
    const context = contextFor(server.send);
    expect(await auth.challenge(context, bearer(), undefined)).toBe(true);
    expect(await auth.authorization(context)).toBe('Bearer reg-token');
    expect(await auth.challenge(context, bearer(), 'Bearer reg-token')).toBe(false);
    expect(server.seen).toHaveLength(0);
  });
});

describe('RegistryAuthHandler: errors', () => {
  it('says UNAUTHORIZED naming the user and the registry when the token server refuses the password', async () => {
    const server = tokenServer(() => ({ status: 401, json: { details: 'incorrect username or password' } }));
    const error = await refusal(handler({ username: 'alice', password: 'nope' }).challenge(contextFor(server.send), bearer(), undefined));
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toBe(
      'push blob registry.example/app@sha256:abc: request a token from https://auth.example/token: the token server refused the credentials of "alice" for registry.example (wrong user name or password?) (HTTP 401)',
    );
  });

  it('says REGISTRY_ERROR for a malformed challenge, a refused realm, a server error or an answer without a token', async () => {
    const ok = tokenServer(grantAll);
    const auth = handler(undefined);
    expect((await refusal(auth.challenge(contextFor(ok.send), parseChallenges('Bearer service="x"'), undefined))).code).toBe('REGISTRY_ERROR');
    expect((await refusal(auth.challenge(contextFor(ok.send), parseChallenges('Bearer realm="http://auth.example/token"'), undefined))).message).toContain('plain-http realm');
    expect((await refusal(auth.challenge(contextFor(ok.send), parseChallenges('Bearer realm="https://192.168.0.1/token"'), undefined))).message).toContain('loopback or private');
    expect(ok.seen).toHaveLength(0);
    for (const answer of [{ status: 500, text: 'boom' }, { status: 200, json: { expires_in: 60 } }, { status: 200, text: 'not json' }, { status: 200, json: { token: 'a\r\nX-Evil: 1' } }]) {
      const server = tokenServer(() => answer);
      const error = await refusal(handler(undefined).challenge(contextFor(server.send), bearer(), undefined));
      expect(error.code, JSON.stringify(answer)).toBe('REGISTRY_ERROR');
      expect(error.message).toMatch(/^push blob registry\.example\/app@sha256:abc: request a token from https:\/\/auth\.example\/token: /);
    }
  });

  it('refuses a token answer over 1 MiB with TOO_LARGE', async () => {
    const server = tokenServer(() => ({ status: 200, text: JSON.stringify({ token: 'x'.repeat(1024 * 1024) }) }));
    expect((await refusal(handler(undefined).challenge(contextFor(server.send), bearer(), undefined))).code).toBe('TOO_LARGE');
  });

  it('passes a NETWORK failure of the token request on', async () => {
    const send = (): Promise<HttpResponse> => Promise.reject(new StowageError('NETWORK', 'x: request a token from https://auth.example/token: cannot reach auth.example:443: connect ECONNREFUSED'));
    const error = await refusal(handler(undefined).challenge(contextFor(send), bearer(), undefined));
    expect(error.code).toBe('NETWORK');
  });

  it('gives up on a challenge with no scheme it knows', async () => {
    expect(await handler({ username: 'a', password: 'b' }).challenge(contextFor(tokenServer(grantAll).send), parseChallenges('Negotiate'), undefined)).toBe(false);
  });
});

describe('RegistryAuthHandler: Basic', () => {
  it('answers a Basic challenge with the host credentials, then sends them up front; refuses to retry the same', async () => {
    const auth = handler({ username: 'alice', password: 'wonderland' });
    const context = contextFor(tokenServer(grantAll).send);
    const basic = parseChallenges('Basic realm="registry"');
    expect(await auth.challenge(context, basic, undefined)).toBe(true);
    const header = await auth.authorization(context);
    expect(header).toBe(`Basic ${Buffer.from('alice:wonderland').toString('base64')}`);
    expect(await auth.challenge(context, basic, header)).toBe(false);
    expect(await auth.authorization(context)).toBeUndefined();
  });

  it('does not answer Basic without a password (anonymous, or only an identity token)', async () => {
    const context = contextFor(tokenServer(grantAll).send);
    expect(await handler(undefined).challenge(context, parseChallenges('Basic realm="r"'), undefined)).toBe(false);
    expect(await handler({ username: '<token>', password: 'rt' }).challenge(context, parseChallenges('Basic realm="r"'), undefined)).toBe(false);
  });

  it('prefers Bearer when a registry offers both', async () => {
    const server = tokenServer(grantAll);
    const auth = handler({ username: 'alice', password: 'wonderland' });
    const context = contextFor(server.send);
    await auth.challenge(context, parseChallenges(['Basic realm="r"', 'Bearer realm="https://auth.example/token",service="registry.example"']), undefined);
    expect(await auth.authorization(context)).toMatch(/^Bearer /);
  });
});
