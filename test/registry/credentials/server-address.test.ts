import { describe, expect, it } from 'vitest';
import { keyMatchesHost, normaliseRegistryHost, registryHostOf, serverAddressOf } from '../../../src/registry/credentials/server-address.js';
import { expectCode } from '../../helpers/expect-code.js';

describe('server addresses', () => {
  it('normalises hosts: lowercase, ports kept, Docker Hub aliases are docker.io', () => {
    expect(normaliseRegistryHost('LocalHost:5000')).toBe('localhost:5000');
    expect(normaliseRegistryHost('ghcr.io')).toBe('ghcr.io');
    expect(normaliseRegistryHost('[::1]:5000')).toBe('[::1]:5000');
    for (const alias of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'Docker.IO', 'https://index.docker.io/v1/']) {
      expect(normaliseRegistryHost(alias)).toBe('docker.io');
    }
    expect(normaliseRegistryHost('https://registry.example.com/')).toBe('registry.example.com');
  });

  it('refuses what is not a host', () => {
    for (const bad of ['', ' ', 'a b', 'host:port', '[zz]:1', '-bad.example', 'https://']) expectCode(() => normaliseRegistryHost(bad), 'INVALID_ARGUMENT');
  });

  it('writes Docker Hub under its legacy key and other hosts as they are', () => {
    expect(serverAddressOf('docker.io')).toBe('https://index.docker.io/v1/');
    expect(serverAddressOf('localhost:5000')).toBe('localhost:5000');
  });

  it('matches legacy keys to their host, and nothing else', () => {
    expect(keyMatchesHost('https://localhost:5000/', 'localhost:5000')).toBe(true);
    expect(keyMatchesHost('http://localhost:5000', 'localhost:5000')).toBe(true);
    expect(keyMatchesHost('https://localhost:5000/v2/', 'localhost:5000')).toBe(true);
    expect(keyMatchesHost('https://index.docker.io/v1/', 'docker.io')).toBe(true);
    expect(keyMatchesHost('registry-1.docker.io', 'docker.io')).toBe(true);
    expect(keyMatchesHost('localhost:5001', 'localhost:5000')).toBe(false);
    expect(keyMatchesHost('localhost', 'localhost:5000')).toBe(false);
    expect(keyMatchesHost('evil.localhost:5000', 'localhost:5000')).toBe(false);
    expect(registryHostOf('not a key')).toBeUndefined();
  });
});
