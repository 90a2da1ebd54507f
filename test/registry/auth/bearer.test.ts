import { describe, expect, it } from 'vitest';
import { StowageError } from '../../../src/errors.js';
import { grantedAccess, isPrivateHost, parseBearerChallenge } from '../../../src/registry/auth/bearer.js';

function challenge(params: Record<string, string>): { scheme: string; params: Record<string, string> } {
  return { scheme: 'bearer', params };
}

function refusal(fn: () => unknown): StowageError {
  try {
    fn();
  } catch (error) {
    if (error instanceof StowageError) return error;
    throw error;
  }
  throw new Error('expected a StowageError');
}

describe('isPrivateHost', () => {
  it('knows loopback, private, link-local, CGNAT and unspecified addresses, v4, v6 and v4-mapped', () => {
    for (const host of ['localhost', 'api.localhost', '127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '[::1]', '::1', '[fd00::1]', '[fe80::1]', '[::]', '[::ffff:7f00:1]', '::ffff:10.0.0.1']) {
      expect(isPrivateHost(host), host).toBe(true);
    }
    for (const host of ['registry.example', '8.8.8.8', '172.32.0.1', '192.169.0.1', '[2001:db8::1]', '[::ffff:808:808]', 'localhost.example']) {
      expect(isPrivateHost(host), host).toBe(false);
    }
  });
});

describe('parseBearerChallenge', () => {
  const https = new URL('https://registry.example/v2/app/manifests/v1');
  const plain = new URL('http://127.0.0.1:5000/v2/');

  it('reads realm, service, space-separated scopes and error', () => {
    expect(parseBearerChallenge(challenge({ realm: 'https://auth.example/token?x=1#frag', service: 'reg', scope: 'repository:a:pull repository:b:push', error: 'insufficient_scope' }), https, 'op')).toEqual({
      realm: new URL('https://auth.example/token?x=1'),
      service: 'reg',
      scopes: ['repository:a:pull', 'repository:b:push'],
      error: 'insufficient_scope',
    });
    expect(parseBearerChallenge(challenge({ realm: 'http://127.0.0.1:9000/token' }), plain, 'op')).toMatchObject({ service: undefined, scopes: [], error: undefined });
  });

  it('refuses a missing or malformed realm with REGISTRY_ERROR naming the operation', () => {
    for (const params of [{}, { realm: '' }, { realm: 'not a url' }, { realm: 'ftp://auth.example/token' }, { realm: 'https://user:pw@auth.example/token' }]) {
      const error = refusal(() => parseBearerChallenge(challenge(params), https, 'resolve registry.example/app:v1'));
      expect(error.code).toBe('REGISTRY_ERROR');
      expect(error.message).toMatch(/^resolve registry\.example\/app:v1: the registry's Bearer challenge/);
    }
  });

  it('refuses a plain-http realm for an https registry, but not for a plain-http one', () => {
    expect(refusal(() => parseBearerChallenge(challenge({ realm: 'http://auth.example/token' }), https, 'op')).message).toContain('plain-http realm');
    expect(parseBearerChallenge(challenge({ realm: 'http://auth.example/token' }), plain, 'op').realm.href).toBe('http://auth.example/token');
  });

  it('refuses a loopback or private realm for a public registry; allows it for a local one or the same host', () => {
    for (const realm of ['https://127.0.0.1/token', 'https://localhost:8080/token', 'https://169.254.169.254/latest', 'https://[::1]/token', 'https://10.0.0.5/token']) {
      expect(refusal(() => parseBearerChallenge(challenge({ realm }), https, 'op')).message, realm).toContain('loopback or private address');
    }
    expect(parseBearerChallenge(challenge({ realm: 'http://localhost:9000/token' }), plain, 'op').realm.host).toBe('localhost:9000');
    expect(parseBearerChallenge(challenge({ realm: 'https://10.0.0.5/token' }), new URL('https://10.0.0.5:5000/v2/'), 'op').realm.host).toBe('10.0.0.5');
  });
});

describe('grantedAccess', () => {
  const jwt = (claims: unknown): string => `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

  it('reads the access claim of a JWT', () => {
    expect(grantedAccess(jwt({ access: [{ type: 'repository', name: 'app', actions: ['push', 'pull'] }, { type: 'repository', name: 'b', actions: null }] }))).toEqual([
      { type: 'repository', name: 'app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'b', actions: [] },
    ]);
    expect(grantedAccess(jwt({ sub: 'x' }))).toEqual([]);
  });

  it('is undefined for opaque tokens and malformed claims', () => {
    expect(grantedAccess('opaque-token')).toBeUndefined();
    expect(grantedAccess('a.b.c')).toBeUndefined();
    expect(grantedAccess(jwt({ access: 'everything' }))).toBeUndefined();
  });
});
