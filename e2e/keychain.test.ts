/**
 * The OS keychain for real: GNOME Keyring's Secret Service in a private D-Bus session (`dbus-run-session`),
 * unlocked with a throwaway password, with HOME in a temp workspace. Inside it: `login --credential-store
 * keychain` keeps the secret out of config.json (which records `credHelpers[host] = "stowage"`), `push` finds
 * it, `docker-credential-stowage` serves it to ORAS, `logout` removes it. Skipped, saying why, only when
 * dbus-run-session, gnome-keyring-daemon or the optional @napi-rs/keyring package is missing.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { orasPath } from './helpers/cli.js';
import { workspace, type Workspace } from './helpers/fixtures.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const user = 'alice';
const password = 'correct horse battery staple';

function whyMissing(): string | undefined {
  for (const binary of ['dbus-run-session', 'gnome-keyring-daemon']) {
    const found = (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, binary)));
    if (!found) return `${binary} is not installed (npm run test:setup installs gnome-keyring and dbus)`;
  }
  try {
    createRequire(import.meta.url).resolve('@napi-rs/keyring');
  } catch {
    return 'the optional package @napi-rs/keyring is not installed';
  }
  return undefined;
}

const missing = whyMissing();

interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
  error?: string;
}

interface Step {
  command: string;
  args: string[];
  input?: string;
}

/** Runs `steps` one after the other inside one D-Bus session with an unlocked GNOME Keyring. */
function inKeyringSession(steps: Step[], env: Record<string, string>, cwd: string): Promise<StepResult[]> {
  const script = `echo -n keyring-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "${process.execPath}" "${root}e2e/helpers/run-steps.js"`;
  const child = spawn('dbus-run-session', ['--', 'sh', '-c', script], { cwd, env: { ...env, STOWAGE_STEPS: JSON.stringify(steps) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      try {
        resolve(JSON.parse(stdout) as StepResult[]);
      } catch {
        reject(new Error(`dbus-run-session exited ${String(code)} without results\nstdout: ${stdout}\nstderr: ${stderr}`));
      }
    });
  });
}

describe.skipIf(missing !== undefined)(`the OS keychain (GNOME Keyring under dbus-run-session)${missing === undefined ? '' : `: skipped, ${missing}`}`, () => {
  const secured = useRegistry({ auth: 'htpasswd', users: { [user]: password } });
  let ws: Workspace;
  let env: Record<string, string>;

  beforeAll(async () => {
    ws = await workspace('keychain');
    await writeFile(ws.path('hello.txt'), 'hello from the keychain test\n');
    // docker-credential-stowage on PATH, as npm installs it (a link without the .js).
    const bin = await ws.mkdir('bin');
    await symlink(join(root, 'bin', 'docker-credential-stowage.js'), join(bin, 'docker-credential-stowage'));
    env = { NO_COLOR: '1' };
    for (const [key, value] of Object.entries(process.env)) {
      if (value === undefined || key === 'TEST' || key.startsWith('VITEST') || key === 'NODE_ENV' || key === 'DBUS_SESSION_BUS_ADDRESS') continue;
      env[key] = value;
    }
    Object.assign(env, ws.env, { PATH: `${bin}:${process.env.PATH ?? ''}` });
  });

  afterAll(async () => {
    await ws.cleanup();
  });

  it('logs in to the keychain, pushes, serves ORAS through docker-credential-stowage, and logs out', async () => {
    const host = secured().host;
    const reference = `${host}/${uniqueRepository('keychain')}:v1`;
    const configFile = join(ws.env.DOCKER_CONFIG!, 'config.json');
    const stowage = (...args: string[]): Step => ({ command: process.execPath, args: [join(root, 'bin', 'run.js'), ...args] });
    const helper = (action: string, input: string): Step => ({ command: 'docker-credential-stowage', args: [action], input });
    const [loggedIn, pushed, config, helperGet, orasPull, tokenStore, list, tokenErase, loggedOut, helperGone, refused] = await inKeyringSession(
      [
        { ...stowage('login', host, '-u', user, '--password-stdin', '--credential-store', 'keychain'), input: password },
        stowage('push', reference, 'hello.txt'),
        { command: 'cat', args: [configFile] },
        helper('get', host),
        { command: orasPath(), args: ['pull', '--plain-http', reference, '-o', ws.path('oras-out')] },
        helper('store', JSON.stringify({ ServerURL: 'idp.example', Username: '<token>', Secret: 'refresh-token' })),
        helper('list', ''),
        helper('erase', 'idp.example'),
        stowage('logout', host),
        helper('get', host),
        stowage('push', reference, 'hello.txt'),
      ],
      env,
      ws.dir,
    );
    const show = (result: StepResult | undefined): string => JSON.stringify(result, null, 2);

    expect(loggedIn?.code, show(loggedIn)).toBe(0);
    expect(loggedIn?.stdout).toBe('Login Succeeded\n');
    // Nothing said about plain text, nor a fallback: the secret went to the keychain.
    expect(loggedIn?.stderr).toBe('');
    expect(JSON.parse(config?.stdout ?? '')).toEqual({ credHelpers: { [host]: 'stowage' } });
    expect(config?.stdout).not.toContain(Buffer.from(`${user}:${password}`).toString('base64'));

    expect(pushed?.code, show(pushed)).toBe(0);
    expect(helperGet?.code, show(helperGet)).toBe(0);
    expect(JSON.parse(helperGet?.stdout ?? '')).toEqual({ ServerURL: host, Username: user, Secret: password });
    expect(orasPull?.code, show(orasPull)).toBe(0);
    expect(await readFile(ws.path('oras-out', 'hello.txt'), 'utf8')).toBe('hello from the keychain test\n');

    expect(tokenStore?.code, show(tokenStore)).toBe(0);
    expect(JSON.parse(list?.stdout ?? '')).toEqual({ [host]: user, 'idp.example': '<token>' });
    expect(tokenErase?.code, show(tokenErase)).toBe(0);

    expect(loggedOut?.code, show(loggedOut)).toBe(0);
    expect(loggedOut?.stdout).toBe(`Removed login credentials for ${host}\n`);
    expect(helperGone?.code).toBe(1);
    expect(helperGone?.stdout).toBe('credentials not found in native keychain\n');
    expect(refused?.code, show(refused)).toBe(1);
    expect(refused?.stderr).toMatch(/^Error: .*unauthorized/im);
    expect(JSON.parse(await readFile(configFile, 'utf8'))).toEqual({ credHelpers: {} });
  });
});
