/** createDispatcher's checks of its options, and --resolve parsing (no registry needed). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, EnvHttpProxyAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, parseResolveRule } from '../../src/registry/transport.js';
import { expectCode } from '../helpers/expect-code.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls.js';

let certs: TestCertificates;
beforeAll(async () => {
  certs = await makeTestCertificates();
});
afterAll(async () => {
  await certs.cleanup();
});

describe('parseResolveRule', () => {
  it('reads host:port:address and host:port:address:address_port', () => {
    expect(parseResolveRule('registry.test:5000:127.0.0.1')).toEqual({ host: 'registry.test', port: 5000, address: '127.0.0.1', addressPort: 5000 });
    expect(parseResolveRule('Registry.Test:443:10.0.0.7:8443')).toEqual({ host: 'registry.test', port: 443, address: '10.0.0.7', addressPort: 8443 });
  });

  it('takes IPv6 addresses and hosts in brackets', () => {
    expect(parseResolveRule('registry.test:443:[::1]:5000')).toEqual({ host: 'registry.test', port: 443, address: '::1', addressPort: 5000 });
    expect(parseResolveRule('[fd00::1]:5000:[::1]')).toEqual({ host: 'fd00::1', port: 5000, address: '::1', addressPort: 5000 });
  });

  it('refuses malformed values with INVALID_ARGUMENT naming the value', () => {
    for (const value of ['registry.test', 'registry.test:5000', 'registry.test:port:127.0.0.1', 'registry.test:5000:127.0.0.1:', ':5000:127.0.0.1', 'a:1:b:2:c']) {
      const error = expectCode(() => parseResolveRule(value), 'INVALID_ARGUMENT');
      expect(error.message).toContain(`"${value}"`);
    }
    expect(expectCode(() => parseResolveRule('registry.test:5000:example.com'), 'INVALID_ARGUMENT').message).toContain('not an IP address');
    expect(expectCode(() => parseResolveRule('registry.test:0:127.0.0.1'), 'INVALID_ARGUMENT').message).toContain('port 0');
    expect(expectCode(() => parseResolveRule('registry.test:5000:127.0.0.1:70000'), 'INVALID_ARGUMENT').message).toContain('port 70000');
  });
});

describe('createDispatcher', () => {
  it('gives an Agent without a proxy, and an EnvHttpProxyAgent with one', async () => {
    const plain = createDispatcher({ env: {} });
    expect(plain).toBeInstanceOf(Agent);
    const proxied = createDispatcher({ env: { HTTPS_PROXY: 'http://127.0.0.1:3128' } });
    expect(proxied).toBeInstanceOf(EnvHttpProxyAgent);
    // A proxy without a scheme is http://, as in Go and curl; blank variables count as unset.
    expect(createDispatcher({ env: { http_proxy: '127.0.0.1:3128' } })).toBeInstanceOf(EnvHttpProxyAgent);
    expect(createDispatcher({ env: { HTTP_PROXY: '  ' } })).toBeInstanceOf(Agent);
    await Promise.all([plain.close(), proxied.close()]);
  });

  it('accepts the CA, the client certificate and key, and resolve rules', async () => {
    const dispatcher = createDispatcher({ caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey, resolve: ['registry.test:443:127.0.0.1'], insecure: true, env: {} });
    await dispatcher.close();
  });

  it('fails with FILE_NOT_FOUND naming the flag and the path of a missing file', () => {
    const missing = join(certs.dir, 'missing.pem');
    expect(expectCode(() => createDispatcher({ caFile: missing }), 'FILE_NOT_FOUND').message).toBe(`--ca-file ${missing}: no such file`);
    expect(expectCode(() => createDispatcher({ certFile: missing, keyFile: certs.clientKey }), 'FILE_NOT_FOUND').message).toBe(`--cert-file ${missing}: no such file`);
    expect(expectCode(() => createDispatcher({ certFile: certs.clientCert, keyFile: missing }), 'FILE_NOT_FOUND').message).toBe(`--key-file ${missing}: no such file`);
    expect(expectCode(() => createDispatcher({ caFile: certs.dir }), 'FILE_NOT_FOUND').message).toBe(`--ca-file ${certs.dir}: is a directory`);
  });

  it('wants both a certificate and a key, or neither', () => {
    expect(expectCode(() => createDispatcher({ certFile: certs.clientCert }), 'INVALID_ARGUMENT').message).toContain('both --cert-file and --key-file');
    expect(expectCode(() => createDispatcher({ keyFile: certs.clientKey }), 'INVALID_ARGUMENT').message).toContain('both --cert-file and --key-file');
  });

  it('refuses a CA file without a certificate and a key that does not match the certificate', async () => {
    const garbage = join(certs.dir, 'garbage.pem');
    await writeFile(garbage, 'not a certificate\n');
    expect(expectCode(() => createDispatcher({ caFile: garbage }), 'INVALID_ARGUMENT').message).toContain(`--ca-file ${garbage}: not a PEM certificate`);
    // A key is not a certificate.
    expect(expectCode(() => createDispatcher({ caFile: certs.caKey }), 'INVALID_ARGUMENT').message).toContain('not a PEM certificate');
    const mismatch = expectCode(() => createDispatcher({ certFile: certs.clientCert, keyFile: certs.serverKey }), 'INVALID_ARGUMENT');
    expect(mismatch.message).toContain('unusable client certificate');
    expect(mismatch.message).toContain(certs.serverKey);
  });

  it('refuses a malformed resolve value and a proxy that is not http(s)', () => {
    expectCode(() => createDispatcher({ resolve: ['nonsense'] }), 'INVALID_ARGUMENT');
    expect(expectCode(() => createDispatcher({ env: { HTTPS_PROXY: 'socks5://127.0.0.1:1080' } }), 'INVALID_ARGUMENT').message).toContain('HTTPS_PROXY');
    expect(expectCode(() => createDispatcher({ env: { HTTP_PROXY: 'http://[broken' } }), 'INVALID_ARGUMENT').message).toContain('HTTP_PROXY');
  });
});
