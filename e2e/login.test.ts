/**
 * `login` and `logout` as a user runs them, against a real docker-registry in htpasswd mode: credentials
 * checked before they are saved, saved where config.json says (the file, 0600, with a plain-text warning;
 * a credential helper), found again by `push` without -u/-p, removed by `logout`; and shared with ORAS
 * both ways through the same DOCKER_CONFIG.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialHelperName, helperFixture } from '../test/helpers/credential-helper-fixture.js';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, oras as runOras, stowage as runStowage, type RunResult } from './helpers/cli.js';
import { expectOneError, listDir, snapshotTree, workspace, type Workspace } from './helpers/fixtures.js';

const user = 'alice';
const password = 'correct horse battery staple';
const secured = useRegistry({ auth: 'htpasswd', users: { [user]: password } });

let ws: Workspace;
let src: string;
let counter = 0;

beforeAll(async () => {
  ws = await workspace('login');
  src = await ws.mkdir('src');
  await writeFile(join(src, 'hello.txt'), 'hello from a login test\n');
});

afterAll(async () => {
  await ws.cleanup();
});

/** A fresh DOCKER_CONFIG directory (not created yet: login must create it) and the env that selects it. */
function freshConfig(): { dir: string; file: string; env: Record<string, string> } {
  counter++;
  const dir = ws.path(`docker-config-${counter}`);
  return { dir, file: join(dir, 'config.json'), env: { ...ws.env, DOCKER_CONFIG: dir } };
}

function stowage(args: string[], env: Record<string, string>, input?: string): Promise<RunResult> {
  return runStowage(args, { cwd: src, env, ...(input === undefined ? {} : { input }) });
}

function oras(args: string[], env: Record<string, string>, input?: string): Promise<RunResult> {
  return runOras(args, { cwd: src, env, ...(input === undefined ? {} : { input }) });
}

function login(env: Record<string, string>, secret = password, extra: string[] = []): Promise<RunResult> {
  return stowage(['login', secured().host, '-u', user, '--password-stdin', ...extra], env, `${secret}\n`);
}

function push(env: Record<string, string>, repository = uniqueRepository('login')): Promise<RunResult> {
  return stowage(['push', `${secured().host}/${repository}:v1`, 'hello.txt'], env);
}

describe('login and logout with config.json', () => {
  it('logs in, then push needs no -u/-p; the file is 0600 and the plain-text warning is printed once', async () => {
    const config = freshConfig();
    const result = ok(await login(config.env), 'login');
    expect(result.stdout).toBe('Login Succeeded\n');
    const warnings = result.stderr.split('\n').filter((line) => line.includes('unencrypted'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(config.file);
    expect(result.stderr).not.toContain(password);

    expect((await stat(config.file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(config.file, 'utf8'))).toEqual({
      auths: { [secured().host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } },
    });
    expect(await listDir(config.dir)).toEqual(['config.json']);

    const pushed = ok(await push(config.env), 'push with stored credentials');
    expect(pushed.stdout).toContain('Pushed [registry]');
  });

  it('refuses a wrong password: exit 1, one Error line, config.json neither created nor changed', async () => {
    const config = freshConfig();
    const wrong = await login(config.env, 'wrong password');
    const line = expectOneError(wrong, 1, [secured().host]);
    expect(line).toMatch(/refused|unauthorized/i);
    expect(wrong.stderr).not.toContain('wrong password');
    expect(await listDir(config.dir)).toEqual([]);

    // An existing config.json is left byte for byte.
    await mkdir(config.dir, { recursive: true });
    const before = `${JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, psFormat: 'x' }, null, 4)}\n`;
    await writeFile(config.file, before, { mode: 0o644 });
    const snapshot = await snapshotTree(config.dir);
    expectOneError(await login(config.env, 'wrong password'), 1, [secured().host]);
    expect(await readFile(config.file, 'utf8')).toBe(before);
    expect((await stat(config.file)).mode & 0o777).toBe(0o644);
    expect(await snapshotTree(config.dir)).toEqual(snapshot);
  });

  it('says clearly that it cannot ask for credentials without a terminal', async () => {
    const config = freshConfig();
    expectOneError(await stowage(['login', secured().host], config.env), 2, ['no credentials were given', 'not a terminal']);
    expectOneError(await stowage(['login', secured().host, '-u', user], config.env), 2, ['no password was given']);
    expect(await listDir(config.dir)).toEqual([]);
  });

  it('logs out, after which push is unauthorized; logging out twice warns', async () => {
    const config = freshConfig();
    ok(await login(config.env), 'login');
    ok(await push(config.env), 'push while logged in');
    const out = ok(await stowage(['logout', secured().host], config.env), 'logout');
    expect(out.stdout).toBe(`Removed login credentials for ${secured().host}\n`);
    expect(JSON.parse(await readFile(config.file, 'utf8'))).toEqual({ auths: {} });
    expectOneError(await push(config.env), 1, [/unauthorized/i]);

    const again = ok(await stowage(['logout', secured().host], config.env), 'second logout');
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain(`no credentials were stored for ${secured().host}`);
  });

  it('reads and writes the file --registry-config names instead', async () => {
    const config = freshConfig();
    const custom = ws.path(`custom-${counter}`, 'auth.json');
    ok(await login(config.env, password, ['--registry-config', custom]), 'login --registry-config');
    expect(await listDir(config.dir)).toEqual([]);
    expect((await stat(custom)).mode & 0o777).toBe(0o600);
    expectOneError(await push(config.env), 1, [/unauthorized/i]);
    ok(await stowage(['push', `${secured().host}/${uniqueRepository('login')}:v1`, 'hello.txt', '--registry-config', custom], config.env), 'push --registry-config');
    ok(await stowage(['logout', secured().host, '--registry-config', custom], config.env), 'logout --registry-config');
    expect(JSON.parse(await readFile(custom, 'utf8'))).toEqual({ auths: {} });
  });

  it('falls back to the file, with a warning, when --credential-store keychain finds no keychain', async () => {
    const config = freshConfig();
    // No session bus at all: the Secret Service cannot answer.
    const env = { ...config.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${ws.path('no-such-bus')}` };
    const result = ok(await login(env, password, ['--credential-store', 'keychain']), 'login --credential-store keychain');
    expect(result.stdout).toBe('Login Succeeded\n');
    expect(result.stderr).toMatch(/^Warning: the OS keychain is not available.*saving the credentials in .*config\.json instead$/m);
    expect(result.stderr).toContain('unencrypted');
    expect(Object.keys((JSON.parse(await readFile(config.file, 'utf8')) as { auths: object }).auths)).toEqual([secured().host]);
    ok(await push(env), 'push after the fallback');
  });
});

/** True when util-linux `script` (a pseudo-terminal for the prompt test) is installed. */
const hasScript = (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'script')));

/**
 * Runs `stowage login <registry>` on a pseudo-terminal (util-linux `script`) and answers its prompts as a
 * user types: each answer is sent only once its prompt has appeared. Returns everything the terminal showed.
 */
function loginOnTerminal(env: Record<string, string>, answers: Record<string, string>): Promise<{ code: number | null; screen: string }> {
  const cli = fileURLToPath(new URL('../bin/run.js', import.meta.url));
  const command = `'${process.execPath}' '${cli}' login ${secured().host}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: src, env: { ...env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  const pending = new Map(Object.entries(answers));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    screen += chunk;
    for (const [prompt, answer] of pending) {
      if (!screen.includes(prompt)) continue;
      pending.delete(prompt);
      child.stdin.write(`${answer}\r`);
    }
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      child.stdin.destroy();
      // Without the cursor movements readline draws with.
      // eslint-disable-next-line no-control-regex
      resolve({ code, screen: screen.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '') });
    });
  });
}

describe.skipIf(!hasScript)('login on a terminal', () => {
  it('asks for the username (shown) and the password (not echoed), then saves them', async () => {
    const config = freshConfig();
    const { code, screen } = await loginOnTerminal(config.env, { 'Username: ': user, 'Password: ': `${password}x\u007f` });
    expect(code, screen).toBe(0);
    expect(screen).toContain(`Username: ${user}`);
    expect(screen).toContain('Login Succeeded');
    expect(screen).not.toContain(password);
    expect(screen).not.toContain('correct horse');
    expect(JSON.parse(await readFile(config.file, 'utf8'))).toEqual({
      auths: { [secured().host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } },
    });
  });

  it('refuses a wrong password typed at the prompt and writes nothing', async () => {
    const config = freshConfig();
    const { code, screen } = await loginOnTerminal(config.env, { 'Username: ': user, 'Password: ': 'not it' });
    expect(code, screen).toBe(1);
    expect(screen).toMatch(/Error: .*refused/);
    expect(await listDir(config.dir)).toEqual([]);
  });
});

describe('login and logout with a credential helper', () => {
  it('saves into the credsStore helper, push gets from it, logout erases it; config.json is not touched', async () => {
    const config = freshConfig();
    const helper = helperFixture(await ws.mkdir(`helper-${counter}`));
    const env = { ...config.env, ...helper.env };
    await mkdir(config.dir, { recursive: true });
    const original = `${JSON.stringify({ credsStore: credentialHelperName })}\n`;
    await writeFile(config.file, original);

    const result = ok(await login(env), 'login into the helper');
    expect(result.stdout).toBe('Login Succeeded\n');
    expect(result.stderr).toBe('');
    expect(await helper.entries()).toEqual({ [secured().host]: { Username: user, Secret: password } });
    expect(await readFile(config.file, 'utf8')).toBe(original);

    ok(await push(env), 'push with the helper credentials');
    expect(await helper.calls()).toContain(`get ${secured().host}`);

    const out = ok(await stowage(['logout', secured().host], env), 'logout');
    expect(out.stdout).toBe(`Removed login credentials for ${secured().host}\n`);
    expect(await helper.entries()).toEqual({});
    expect(await readFile(config.file, 'utf8')).toBe(original);
    expectOneError(await push(env), 1, [/unauthorized/i]);
  });

  it('uses the credHelpers entry for the host, and reports a missing helper clearly', async () => {
    const config = freshConfig();
    const helper = helperFixture(await ws.mkdir(`helper-${counter}`));
    const env = { ...config.env, ...helper.env };
    await mkdir(config.dir, { recursive: true });
    await writeFile(config.file, JSON.stringify({ credsStore: 'not-installed', credHelpers: { [secured().host]: credentialHelperName } }));
    ok(await login(env), 'login into the credHelpers helper');
    expect(Object.keys(await helper.entries())).toEqual([secured().host]);
    ok(await push(env), 'push');

    await writeFile(config.file, JSON.stringify({ credsStore: 'not-installed' }));
    const missing = await push(env);
    expectOneError(missing, 1, ['docker-credential-not-installed is not installed']);
  });
});

describe('credentials shared with ORAS', () => {
  it('after oras login, stowage push needs no login', async () => {
    const config = freshConfig();
    ok(await oras(['login', '--plain-http', secured().host, '-u', user, '--password-stdin'], config.env, password), 'oras login');
    expect(await listDir(config.dir)).toEqual(['config.json']);
    ok(await push(config.env), 'stowage push after oras login');
  });

  it('after stowage login, oras pull works; after stowage logout it does not', async () => {
    const config = freshConfig();
    const repository = uniqueRepository('login-oras');
    ok(await login(config.env), 'stowage login');
    ok(await push(config.env, repository), 'stowage push');
    const out = ws.path(`oras-out-${counter}`);
    const pulled = ok(await oras(['pull', '--plain-http', `${secured().host}/${repository}:v1`, '-o', out], config.env), 'oras pull');
    expect(pulled.stdout).toContain('Pulled');
    expect(await readFile(join(out, 'hello.txt'), 'utf8')).toBe('hello from a login test\n');

    ok(await stowage(['logout', secured().host], config.env), 'stowage logout');
    const refused = await oras(['pull', '--plain-http', `${secured().host}/${repository}:v1`, '-o', ws.path(`oras-out-${counter}-b`)], config.env);
    expect(refused.code).not.toBe(0);
  });
});
