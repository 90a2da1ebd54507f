import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../../src/registry/auth/challenge.js';

describe('parseChallenges', () => {
  it('parses a Basic challenge', () => {
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  });

  it('parses a Bearer challenge with several parameters, quoted commas and escapes', () => {
    const header = 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope",note="say \\"hi\\""';
    expect(parseChallenges(header)).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push', error: 'insufficient_scope', note: 'say "hi"' },
      },
    ]);
  });

  it('parses several challenges in one header and across headers, case-insensitively', () => {
    expect(parseChallenges(['BASIC realm=x, Bearer realm="y", service=z', 'Negotiate'])).toEqual([
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: { realm: 'y', service: 'z' } },
      { scheme: 'negotiate', params: {} },
    ]);
  });

  it('tolerates missing and malformed headers', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges('  ,  ')).toEqual([]);
    expect(parseChallenges('Basic realm="unterminated')).toEqual([{ scheme: 'basic', params: { realm: 'unterminated' } }]);
    expect(parseChallenges('"quoted" Basic')).toEqual([
      { scheme: 'quoted', params: {} },
      { scheme: 'basic', params: {} },
    ]);
  });

  it('parses what registries send: Docker Hub, several scopes in one quoted value, an escaped backslash', () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
    expect(parseChallenges('Bearer realm="https://a/t", scope="repository:a:pull,push repository:b:pull", note="c:\\\\d, e"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://a/t', scope: 'repository:a:pull,push repository:b:pull', note: 'c:\\d, e' } },
    ]);
  });

  it('allows spaces around "=", empty quoted values and parameters in any order', () => {
    expect(parseChallenges('Bearer error = "insufficient_scope" , scope="", realm = "https://a/t"')).toEqual([
      { scheme: 'bearer', params: { error: 'insufficient_scope', scope: '', realm: 'https://a/t' } },
    ]);
  });

  it('keeps a Basic and a Bearer challenge apart even when a quoted value holds a comma and a scheme-like word', () => {
    expect(parseChallenges('Bearer realm="https://a/t,Basic realm=x", service="s", Basic realm="r"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://a/t,Basic realm=x', service: 's' } },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
  });
});
