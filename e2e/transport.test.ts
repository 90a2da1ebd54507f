/**
 * The built CLI's transport flags against a registry serving HTTPS with a private CA and Basic auth
 * (htpasswd): --ca-file, --insecure, --resolve, a proxy from the environment, and --debug output that
 * shows the auth scheme and never the credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxyFixture, type ProxyFixture } from '../test/helpers/proxy-fixture.js';
import { startRegistry, uniqueRepository, type RunningRegistry } from '../test/helpers/registry-harness.js';
import { makeTestCertificates, type TestCertificates } from '../test/helpers/tls.js';
import { ok, stowage } from './helpers/cli.js';
import { expectOneError, makeFixture, snapshotTree, stderrLines, workspace, type Fixture, type Workspace } from './helpers/fixtures.js';

const user = 'alice';
const password = 'correct horse battery staple';

let certs: TestCertificates;
let secured: RunningRegistry;
let plain: RunningRegistry;
let proxy: ProxyFixture;
let ws: Workspace;
let fixture: Fixture;

beforeAll(async () => {
  certs = await makeTestCertificates();
  [secured, plain, proxy, ws] = await Promise.all([
    startRegistry({ auth: 'htpasswd', users: { [user]: password }, tls: { certificate: certs.serverCert, key: certs.serverKey } }),
    startRegistry(),
    startProxyFixture(),
    workspace('transport'),
  ]);
  fixture = await makeFixture(await ws.mkdir('src'), 7);
});

afterAll(async () => {
  await Promise.all([secured.stop(), plain.stop(), proxy.stop(), ws.cleanup()]);
  await certs.cleanup();
});

// No proxy from the caller's environment: blank values count as unset.
const noProxy = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };

function run(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): ReturnType<typeof stowage> {
  return stowage(args, { cwd: options.cwd ?? ws.dir, env: { ...ws.env, ...noProxy, ...options.env } });
}

const credentials = ['-u', user, '-p', password];

function portOf(running: RunningRegistry): string {
  return running.host.slice(running.host.lastIndexOf(':') + 1);
}

describe('TLS flags', () => {
  it('pushes and pulls with --ca-file (HTTPS even on 127.0.0.1)', async () => {
    const ref = `${secured.host}/${uniqueRepository('e2e-ca')}:v1`;
    ok(await run(['push', ref, '--ca-file', certs.caCert, ...credentials, ...fixture.files, fixture.directory], { cwd: fixture.dir }), 'push');
    const out = ws.path('out-ca');
    ok(await run(['pull', ref, '--ca-file', certs.caCert, ...credentials, '-o', out]), 'pull');
    expect(await snapshotTree(out)).toEqual(await snapshotTree(fixture.dir));
  });

  it('without --ca-file fails in one line saying the certificate is not trusted and naming --ca-file and --insecure', async () => {
    const result = await run(['resolve', `${secured.host}/${uniqueRepository('e2e-untrusted')}:v1`, '--no-plain-http', ...credentials]);
    expectOneError(result, 1, ['not trusted', '--ca-file', '--insecure']);
    expect(result.stderr).not.toContain('Hint:');
  });

  it('works with --insecure instead', async () => {
    const ref = `${secured.host}/${uniqueRepository('e2e-insecure')}:v1`;
    ok(await run(['push', ref, '--insecure', '--no-plain-http', ...credentials, 'hello.txt'], { cwd: fixture.dir }), 'push');
    const resolved = ok(await run(['resolve', ref, '--insecure', '--no-plain-http', ...credentials]), 'resolve');
    expect(resolved.stdout.trim()).toMatch(/^sha256:[a-f0-9]{64}$/);
  });

  it('names the flag and the path of a missing --ca-file', async () => {
    const missing = ws.path('no-such-ca.pem');
    expectOneError(await run(['resolve', `${secured.host}/app:v1`, '--ca-file', missing]), 1, [`--ca-file ${missing}: no such file`]);
  });

  it('wants --key-file with --cert-file', async () => {
    expectOneError(await run(['resolve', `${secured.host}/app:v1`, '--cert-file', certs.clientCert]), 2, ['--cert-file and --key-file']);
  });
});

describe('--resolve', () => {
  it('reaches the registry as registry.test:<port>, with the files after the flag still files', async () => {
    const port = portOf(secured);
    const ref = `registry.test:${port}/${uniqueRepository('e2e-resolve')}:v1`;
    const resolve = ['--resolve', `registry.test:${port}:127.0.0.1`];
    ok(await run(['push', ref, '--ca-file', certs.caCert, ...credentials, ...resolve, 'hello.txt', 'empty.txt'], { cwd: fixture.dir }), 'push');
    const out = ws.path('out-resolve');
    ok(await run(['pull', ref, ...resolve, '--ca-file', certs.caCert, ...credentials, '-o', out]), 'pull');
    expect(Object.keys(await snapshotTree(out)).sort()).toEqual(['empty.txt', 'hello.txt']);
  });

  it('refuses a malformed value with a usage error', async () => {
    expectOneError(await run(['resolve', `registry.test/app:v1`, '--resolve', 'registry.test:443']), 2, ['invalid --resolve "registry.test:443"']);
  });
});

describe('proxies', () => {
  it('uses HTTP_PROXY from the environment, and not for a host in NO_PROXY', async () => {
    const ref = `${plain.host}/${uniqueRepository('e2e-proxy')}:v1`;
    proxy.requests.length = 0;
    ok(await run(['push', ref, 'hello.txt'], { cwd: fixture.dir, env: { HTTP_PROXY: proxy.url } }), 'push');
    expect(proxy.requests.length).toBeGreaterThan(0);
    expect(proxy.requests.every((request) => request.target.startsWith(`http://${plain.host}/v2/`))).toBe(true);
    proxy.requests.length = 0;
    ok(await run(['resolve', ref], { env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } }), 'resolve');
    expect(proxy.requests).toEqual([]);
  });
});

describe('--debug', () => {
  it('prints every exchange on stderr with the auth scheme and without the credentials', async () => {
    const ref = `${secured.host}/${uniqueRepository('e2e-debug')}:v1`;
    const result = ok(await run(['push', ref, '--ca-file', certs.caCert, ...credentials, '--debug', 'hello.txt'], { cwd: fixture.dir }), 'push');
    const lines = stderrLines(result);
    expect(lines.some((line) => /^\[debug\] http #\d+ > PUT https:\/\/127\.0\.0\.1:\d+\/v2\/.+\/manifests\/v1$/.test(line)), result.stderr).toBe(true);
    expect(lines.some((line) => /^\[debug\] http #\d+ < 401 /.test(line)), result.stderr).toBe(true);
    expect(lines.some((line) => /^\[debug\] http #\d+ > +authorization: Basic \*\*\*$/.test(line)), result.stderr).toBe(true);
    expect(lines.some((line) => /^\[debug\] http #\d+ > +user-agent: stowage\//.test(line)), result.stderr).toBe(true);
    expect(result.stderr).not.toContain(password);
    expect(result.stderr).not.toContain(Buffer.from(`${user}:${password}`).toString('base64'));
    // Results still go to stdout alone.
    expect(result.stdout).not.toContain('[debug]');
  });

  it('shows a failing connection too', async () => {
    const result = await run(['resolve', `${secured.host}/app:v1`, '--no-plain-http', '--debug']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^\[debug\] http #1 ! (HEAD|GET) https:\/\/127\.0\.0\.1:\d+\/v2\/app\/manifests\/v1 failed after \d+ ms: /m);
  });
});
