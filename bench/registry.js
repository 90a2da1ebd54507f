/**
 * Starts a CNCF distribution registry (`docker-registry serve`, Debian's package) on a free 127.0.0.1 port,
 * with its storage in a temp dir, as the test harness does (test/ is not built, so this is a small copy of
 * what it does). The benchmark only needs plain HTTP and no auth.
 */
import { spawn } from 'node:child_process';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export const registryBinary = '/usr/bin/docker-registry';

/** A free TCP port on 127.0.0.1, from the OS. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Starts the registry and waits until `/v2/` answers 200.
 * @param {{ parent?: string }} options where its temp dir goes (default: the OS temp dir)
 * @returns {Promise<{ host: string, url: string, storage: string, log: () => string, stop: () => Promise<void> }>}
 */
export async function startRegistry(options = {}) {
  try {
    await access(registryBinary, constants.X_OK);
  } catch {
    throw new Error(`docker-registry not found at ${registryBinary}: run "npm run test:setup" (apt-get install docker-registry)`);
  }
  const dir = await mkdtemp(join(options.parent ?? tmpdir(), 'stowage-bench-registry-'));
  const storage = join(dir, 'storage');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${JSON.stringify(storage)}`,
      '  delete:',
      '    enabled: true',
      '  maintenance:',
      '    uploadpurging:',
      '      enabled: false',
      'http:',
      `  addr: ${JSON.stringify(host)}`,
      `  secret: stowage-bench-${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn(registryBinary, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = [];
  child.stdout.setEncoding('utf8').on('data', (chunk) => chunks.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => chunks.push(chunk));
  const log = () => chunks.join('');
  const stop = async () => {
    if (!exited(child)) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(5_000)]);
      if (!exited(child)) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exited(child)) break;
    try {
      const response = await request(`http://${host}/v2/`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      await response.body.dump();
      if (response.statusCode === 200) return { host, url: `http://${host}`, storage, log, stop };
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`docker-registry did not answer on http://${host}/v2/; its log:\n${log()}`);
}
