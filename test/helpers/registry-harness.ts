/**
 * Starts a real CNCF distribution registry (`docker-registry serve`) on a free 127.0.0.1 port, with its
 * storage in a temp dir, deletion enabled, and optionally htpasswd (Basic) auth. Integration tests use
 * {@link useRegistry}; the registry's log (it logs every request) is available through `log()`.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll } from 'vitest';

const execFileAsync = promisify(execFile);

/** Where Debian's package installs the registry. */
export const registryBinary = '/usr/bin/docker-registry';

/** Token auth (distribution's `auth.token`): the registry accepts JWTs signed by `rootCertBundle`'s key. */
export interface TokenAuthConfig {
  /** The token server's URL (the `realm` of the Bearer challenge). */
  realm: string;
  service: string;
  issuer: string;
  /** A PEM file with the certificate(s) whose keys sign the tokens. */
  rootCertBundle: string;
}

/** TLS for the registry's listener (PEM files). */
export interface TlsConfig {
  certificate: string;
  key: string;
  /** CA certificates of clients: with these, the registry asks for and verifies a client certificate (mTLS). */
  clientCas?: string[];
}

export interface RegistryOptions {
  /** `htpasswd` turns on Basic auth with `users`; `token` turns on Bearer tokens (needs `token`). Default: `none`. */
  auth?: 'none' | 'htpasswd' | 'token';
  /** The token server the registry trusts, for `auth: 'token'`. */
  token?: TokenAuthConfig;
  /** Serve HTTPS instead of plain HTTP. */
  tls?: TlsConfig;
  /** Users for htpasswd mode. Default: {@link defaultUsers}. */
  users?: Record<string, string>;
  /** The loopback address to listen on: `127.0.0.1` (default) or `::1` (references then read `[::1]:PORT`). */
  address?: '127.0.0.1' | '::1';
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT` or `[::1]:PORT`, as in a reference. */
  host: string;
  /** `http://<host>`, or `https://<host>` with TLS. */
  url: string;
  /** The temp dir holding the config, htpasswd file and storage (`<dir>/storage`). */
  dir: string;
  /** The storage root (`rootdirectory`): blobs live under `docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data`. */
  storage: string;
  /** The users of htpasswd mode. */
  users: Record<string, string>;
  stop(): Promise<void>;
  /** Everything the registry printed so far (it logs every request). */
  log(): string;
}

/** The user of htpasswd mode when none are given. */
export const defaultUsers: Record<string, string> = { stowage: 'correct horse battery staple' };

const startTimeoutMs = 15_000;
const stopTimeoutMs = 5_000;

/** `127.0.0.1`, or `[::1]` as IPv6 addresses are written in URLs and references. */
function hostOf(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

/** True when this machine can listen on the IPv6 loopback address (some containers have no IPv6). */
export async function ipv6LoopbackAvailable(): Promise<boolean> {
  try {
    await freePort('::1');
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on a loopback address (from the OS, through a throwaway server). */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, address, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port from the OS'));
      });
    });
  });
}

async function htpasswdFile(users: Record<string, string>): Promise<string> {
  let out = '';
  for (const [user, password] of Object.entries(users)) {
    const { stdout } = await execFileAsync('htpasswd', ['-Bbn', user, password]);
    out += `${stdout.trim()}\n`;
  }
  return out;
}

function config(host: string, port: number, storage: string, htpasswdPath: string | undefined, options: RegistryOptions): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storage)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${JSON.stringify(`${host}:${port}`)}`,
    `  secret: stowage-test-${port}`,
  ];
  if (options.tls !== undefined) {
    lines.push('  tls:', `    certificate: ${JSON.stringify(options.tls.certificate)}`, `    key: ${JSON.stringify(options.tls.key)}`);
    if (options.tls.clientCas !== undefined) lines.push('    clientcas:', ...options.tls.clientCas.map((file) => `      - ${JSON.stringify(file)}`));
  }
  if (htpasswdPath !== undefined) {
    lines.push('auth:', '  htpasswd:', '    realm: stowage-test', `    path: ${JSON.stringify(htpasswdPath)}`);
  }
  if (options.auth === 'token') {
    const token = options.token;
    if (token === undefined) throw new Error('auth: "token" needs the token option (realm, service, issuer, rootCertBundle)');
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(token.realm)}`,
      `    service: ${JSON.stringify(token.service)}`,
      `    issuer: ${JSON.stringify(token.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(token.rootCertBundle)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** True when something accepts TCP connections at `host:port`. */
function listening(host: string): Promise<boolean> {
  const colon = host.lastIndexOf(':');
  const address = host.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(host.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = connect({ host: address, port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => { resolve(false); });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await request(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
    await response.body.dump();
    return response.statusCode === 200 || response.statusCode === 401;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, stopTimeoutMs)) return;
  child.kill('SIGKILL');
  await waitForExit(child, stopTimeoutMs);
}

/**
 * Starts a registry and waits until `/v2/` answers.
 * @throws Error when the binary is missing (with the setup command to run), or the registry does not
 *   answer within 15 s (with its log).
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  try {
    await access(registryBinary, constants.X_OK);
  } catch {
    throw new Error(`docker-registry not found at ${registryBinary}: run "npm run test:setup"`);
  }
  const users = options.auth === 'htpasswd' ? (options.users ?? defaultUsers) : {};
  const dir = await mkdtemp(join(tmpdir(), 'stowage-registry-'));
  try {
    const storage = join(dir, 'storage');
    let htpasswdPath: string | undefined;
    if (options.auth === 'htpasswd') {
      htpasswdPath = join(dir, 'htpasswd');
      await writeFile(htpasswdPath, await htpasswdFile(users));
    }
    // The port is free when asked but may be taken before the registry binds it: try a few.
    let lastError: Error | undefined;
    const address = options.address ?? '127.0.0.1';
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort(address);
      const configPath = join(dir, 'config.yml');
      await writeFile(configPath, config(hostOf(address), port, storage, htpasswdPath, options));
      const started = await launch(configPath, `${hostOf(address)}:${port}`, options.tls !== undefined);
      if ('error' in started) {
        lastError = started.error;
        continue;
      }
      const { child, log } = started;
      const host = `${hostOf(address)}:${port}`;
      return {
        host,
        url: `${options.tls === undefined ? 'http' : 'https'}://${host}`,
        dir,
        storage,
        users,
        log,
        async stop() {
          await stopProcess(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    throw lastError ?? new Error('docker-registry did not start');
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(configPath: string, host: string, tls: boolean): Promise<{ child: ChildProcess; log: () => string } | { error: Error }> {
  const child = spawn(registryBinary, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => chunks.push(chunk));
  const log = (): string => chunks.join('');
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const url = `http://${host}`;
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (spawnError !== undefined || exited(child)) {
      const reason = spawnError?.message ?? `exited with ${String(child.exitCode ?? child.signalCode)}`;
      return { error: new Error(`docker-registry ${reason}; its log:\n${log()}`) };
    }
    // With TLS (perhaps mutual) a listening port is enough: the test's own client does the handshake.
    if (await (tls ? listening(host) : answers(url))) return { child, log };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stopProcess(child);
  return { error: new Error(`docker-registry did not answer on ${url}/v2/ within ${startTimeoutMs} ms; its log:\n${log()}`) };
}

/**
 * Starts a registry in `beforeAll` and stops it in `afterAll`; returns an accessor for the running
 * registry (call it inside tests).
 */
export function useRegistry(options: RegistryOptions = {}): () => RunningRegistry {
  let running: RunningRegistry | undefined;
  beforeAll(async () => {
    running = await startRegistry(options);
  });
  afterAll(async () => {
    await running?.stop();
    running = undefined;
  });
  return () => {
    if (running === undefined) throw new Error('the registry is not running (use the accessor inside tests)');
    return running;
  };
}

let repositoryCounter = 0;

/** A repository name not used before in this process: `<prefix>-<n>-<random>`. */
export function uniqueRepository(prefix = 'test'): string {
  repositoryCounter++;
  return `${prefix}-${repositoryCounter}-${Math.random().toString(36).slice(2, 8)}`;
}
