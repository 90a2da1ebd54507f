/**
 * Transport options against the real registry over TLS (certificates made with openssl): a private CA,
 * `insecure`, mutual TLS, `--resolve` overrides, proxies from the environment (the proxy fixture), the
 * User-Agent, and cookies on cross-origin redirects.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isStowageError } from '../../src/errors.js';
import { HttpClient, type HttpClientOptions } from '../../src/registry/http.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import { createDispatcher, type TransportOptions } from '../../src/registry/transport.js';
import { startProxyFixture, type ProxyFixture } from '../helpers/proxy-fixture.js';
import { startRedirectFixture, type RedirectFixture } from '../helpers/redirect-fixture.js';
import { startRegistry, uniqueRepository, type RunningRegistry } from '../helpers/registry-harness.js';
import { fetchAll, pushImage, randomBlob, randomTag, rejection } from '../helpers/store-contract.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls.js';

let certs: TestCertificates;
/** A registry serving HTTPS with the test CA's server certificate. */
let tlsRegistry: RunningRegistry;
/** The same, asking every client for a certificate signed by the test CA. */
let mtlsRegistry: RunningRegistry;
/** A plain-HTTP registry (for the proxy tests). */
let plainRegistry: RunningRegistry;

beforeAll(async () => {
  certs = await makeTestCertificates();
  const tls = { certificate: certs.serverCert, key: certs.serverKey };
  [tlsRegistry, mtlsRegistry, plainRegistry] = await Promise.all([
    startRegistry({ tls }),
    startRegistry({ tls: { ...tls, clientCas: [certs.caCert] } }),
    startRegistry(),
  ]);
});

afterAll(async () => {
  await Promise.all([tlsRegistry.stop(), mtlsRegistry.stop(), plainRegistry.stop()]);
  await certs.cleanup();
});

/** The registry's port. */
function portOf(running: RunningRegistry): string {
  return running.host.slice(running.host.lastIndexOf(':') + 1);
}

/** A repository on `registry` reached over HTTPS (loopback registries default to plain HTTP) with `transport`. */
function repositoryOn(registry: string, transport: TransportOptions, options: { plainHttp?: boolean; client?: Omit<HttpClientOptions, 'dispatcher'> } = {}): RemoteRepository {
  return new RemoteRepository({
    registry,
    repository: uniqueRepository('transport'),
    plainHttp: options.plainHttp ?? false,
    client: new HttpClient({ ...options.client, dispatcher: createDispatcher({ env: {}, ...transport }) }),
  });
}

/** Pushes an image under a tag, resolves the tag and reads a blob back. */
async function roundTrip(repo: RemoteRepository): Promise<void> {
  const { manifest, layer } = await pushImage(repo);
  const tag = randomTag();
  await repo.tag(manifest.desc, tag);
  expect(await repo.resolve(tag)).toEqual(manifest.desc);
  expect((await fetchAll(repo, layer.desc)).equals(layer.bytes)).toBe(true);
}

describe('TLS with a private CA', () => {
  it('pushes and pulls over HTTPS when the CA is given as caFile', async () => {
    await roundTrip(repositoryOn(tlsRegistry.host, { caFile: certs.caCert }));
  });

  it('fails with NETWORK saying the certificate is not trusted, and how to fix it, without the CA', async () => {
    const repo = repositoryOn(tlsRegistry.host, {});
    const error = await rejection(repo.resolve('latest'));
    expect(isStowageError(error, 'NETWORK'), String(error)).toBe(true);
    const message = String(error);
    expect(message).toContain(`cannot reach ${tlsRegistry.host}`);
    expect(message).toMatch(/certificate is not trusted/);
    expect(message).toContain('--ca-file');
    expect(message).toContain('--insecure');
  });

  it('works without the CA when insecure skips verification', async () => {
    await roundTrip(repositoryOn(tlsRegistry.host, { insecure: true }));
  });
});

describe('mutual TLS', () => {
  it('fails with a clear NETWORK error when the registry wants a client certificate and none is given', async () => {
    const repo = repositoryOn(mtlsRegistry.host, { caFile: certs.caCert });
    const error = await rejection(repo.resolve('latest'));
    expect(isStowageError(error, 'NETWORK'), String(error)).toBe(true);
    expect(String(error)).toMatch(/asks for a client certificate/);
    expect(String(error)).toContain('--cert-file and --key-file');
  });

  it('says the registry refused the client certificate when another CA signed it', async () => {
    const strangers = await makeTestCertificates();
    try {
      const repo = repositoryOn(mtlsRegistry.host, { caFile: certs.caCert, certFile: strangers.clientCert, keyFile: strangers.clientKey });
      const error = await rejection(repo.resolve('latest'));
      expect(isStowageError(error, 'NETWORK'), String(error)).toBe(true);
      expect(String(error)).toMatch(/refused the client certificate/);
    } finally {
      await strangers.cleanup();
    }
  });

  it('pushes and pulls with the client certificate and key', async () => {
    await roundTrip(repositoryOn(mtlsRegistry.host, { caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey }));
  });
});

describe('resolve overrides', () => {
  it('reaches the TLS registry as registry.test:<port> (a name only the certificate knows)', async () => {
    const port = portOf(tlsRegistry);
    await roundTrip(repositoryOn(`registry.test:${port}`, { caFile: certs.caCert, resolve: [`registry.test:${port}:127.0.0.1`] }));
    // The registry saw the name, not the address, in the Host header.
    expect(tlsRegistry.log()).toContain(`http.request.host="registry.test:${port}"`);
  });

  it('maps to another port: registry.test (443) goes to 127.0.0.1:<port>', async () => {
    await roundTrip(repositoryOn('registry.test', { caFile: certs.caCert, resolve: [`registry.test:443:127.0.0.1:${portOf(tlsRegistry)}`] }));
  });

  it('still checks the certificate against the original name', async () => {
    // localhost.test is not in the certificate: the address is right, the name is not.
    const port = portOf(tlsRegistry);
    const error = await rejection(repositoryOn(`wrong.test:${port}`, { caFile: certs.caCert, resolve: [`wrong.test:${port}:127.0.0.1`] }).resolve('latest'));
    expect(isStowageError(error, 'NETWORK'), String(error)).toBe(true);
    expect(String(error)).toMatch(/wrong\.test/);
  });
});

describe('proxies from the environment (proxy fixture)', () => {
  let proxy: ProxyFixture;
  beforeAll(async () => {
    proxy = await startProxyFixture();
  });
  afterAll(async () => {
    await proxy.stop();
  });
  beforeEach(() => {
    proxy.requests.length = 0;
  });

  it('sends plain-HTTP requests through HTTP_PROXY in absolute form', async () => {
    await roundTrip(repositoryOn(plainRegistry.host, { env: { HTTP_PROXY: proxy.url } }, { plainHttp: true }));
    expect(proxy.requests.length).toBeGreaterThan(0);
    for (const request of proxy.requests) expect(request.target.startsWith(`http://${plainRegistry.host}/v2/`), request.target).toBe(true);
  });

  it('honours lowercase http_proxy, and NO_PROXY bypasses the proxy', async () => {
    await roundTrip(repositoryOn(plainRegistry.host, { env: { http_proxy: proxy.url } }, { plainHttp: true }));
    expect(proxy.requests.length).toBeGreaterThan(0);
    proxy.requests.length = 0;
    await roundTrip(repositoryOn(plainRegistry.host, { env: { HTTP_PROXY: proxy.url, NO_PROXY: 'example.test,127.0.0.1' } }, { plainHttp: true }));
    expect(proxy.requests).toEqual([]);
  });

  it('tunnels HTTPS through HTTPS_PROXY with CONNECT, with the CA still checked', async () => {
    await roundTrip(repositoryOn(tlsRegistry.host, { caFile: certs.caCert, env: { HTTPS_PROXY: proxy.url } }));
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(new Set(proxy.requests.map((request) => `${request.method} ${request.target}`))).toEqual(new Set([`CONNECT ${tlsRegistry.host}`]));
    const error = await rejection(repositoryOn(tlsRegistry.host, { env: { HTTPS_PROXY: proxy.url } }).resolve('latest'));
    expect(isStowageError(error, 'NETWORK'), String(error)).toBe(true);
    expect(String(error)).toMatch(/not trusted/);
  });

  it('connects directly to a --resolve host even with a proxy set', async () => {
    const port = portOf(tlsRegistry);
    await roundTrip(repositoryOn(`registry.test:${port}`, { caFile: certs.caCert, resolve: [`registry.test:${port}:127.0.0.1`], env: { HTTPS_PROXY: proxy.url } }));
    expect(proxy.requests).toEqual([]);
  });

  it('ignores process.env when env is given', async () => {
    const saved = process.env.HTTP_PROXY;
    process.env.HTTP_PROXY = proxy.url;
    try {
      await roundTrip(repositoryOn(plainRegistry.host, { env: {} }, { plainHttp: true }));
    } finally {
      if (saved === undefined) delete process.env.HTTP_PROXY;
      else process.env.HTTP_PROXY = saved;
    }
    expect(proxy.requests).toEqual([]);
  });
});

describe('headers', () => {
  it('sends User-Agent stowage/<version>, as the registry logs it', async () => {
    const { stowageVersion } = await import('../../src/version.js');
    await roundTrip(repositoryOn(tlsRegistry.host, { caFile: certs.caCert }));
    // The access log ends each line with the User-Agent in quotes.
    expect(tlsRegistry.log()).toContain(`"stowage/${stowageVersion}"\n`);
  });

  describe('on a cross-origin redirect (redirect fixture)', () => {
    let fixture: RedirectFixture;
    beforeAll(async () => {
      fixture = await startRedirectFixture({ username: 'dave', password: 'cookie-jar' });
    });
    afterAll(async () => {
      await fixture.stop();
    });

    it('drops Cookie (and Authorization) but keeps other custom headers', async () => {
      const blob = randomBlob(2048);
      fixture.addBlob(blob.desc.digest, blob.bytes);
      const repo = new RemoteRepository({
        registry: fixture.registryHost,
        repository: 'cross',
        client: new HttpClient({
          headers: { Cookie: 'session=secret-cookie', 'X-Trace': 'kept' },
          credentials: (host) => (host === fixture.registryHost ? { username: 'dave', password: 'cookie-jar' } : undefined),
        }),
      });
      expect((await fetchAll(repo, blob.desc)).equals(blob.bytes)).toBe(true);
      expect(fixture.registryRequests.every((request) => request.headers.cookie === 'session=secret-cookie')).toBe(true);
      expect(fixture.storageRequests).toHaveLength(1);
      expect(fixture.storageRequests[0]!.headers.cookie).toBeUndefined();
      expect(fixture.storageRequests[0]!.headers.authorization).toBeUndefined();
      expect(fixture.storageRequests[0]!.headers['x-trace']).toBe('kept');
    });
  });
});
