import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StowageError } from '../../../src/errors.js';
import { DockerConfigFile, dockerConfigPath } from '../../../src/registry/credentials/config-file.js';

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stowage-config-'));
  path = join(dir, 'config.json');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

async function readJson(file = path): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

async function loadError(): Promise<StowageError> {
  const error: unknown = await DockerConfigFile.load(path).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(StowageError);
  return error as StowageError;
}

describe('dockerConfigPath', () => {
  it('prefers the flag, then $DOCKER_CONFIG, then ~/.docker', () => {
    expect(dockerConfigPath({ configPath: '/x/c.json', env: { DOCKER_CONFIG: '/d', HOME: '/h' } })).toBe('/x/c.json');
    expect(dockerConfigPath({ env: { DOCKER_CONFIG: '/d', HOME: '/h' } })).toBe('/d/config.json');
    expect(dockerConfigPath({ env: { HOME: '/h' } })).toBe('/h/.docker/config.json');
    expect(dockerConfigPath({ env: { DOCKER_CONFIG: '', HOME: '/h' } })).toBe('/h/.docker/config.json');
  });
});

describe('reading', () => {
  it('treats a missing or empty file as an empty config', async () => {
    expect((await DockerConfigFile.load(path)).authFor('localhost:5000')).toBeUndefined();
    await writeFile(path, '  \n');
    const config = await DockerConfigFile.load(path);
    expect(config.credsStore).toBeUndefined();
    expect(config.credHelperFor('localhost:5000')).toBeUndefined();
  });

  it('decodes auth, username/password, identitytoken and registrytoken', async () => {
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          'a.example': { auth: b64('alice:pa:ss wörd') },
          'b.example': { username: 'bob', password: 'secret' },
          'c.example': { auth: b64('carol:'), identitytoken: 'refresh-me' },
          'd.example': { registrytoken: 'bearer-me' },
          'e.example': {},
        },
      }),
    );
    const config = await DockerConfigFile.load(path);
    expect(config.authFor('a.example')).toEqual({ username: 'alice', password: 'pa:ss wörd' });
    expect(config.authFor('b.example')).toEqual({ username: 'bob', password: 'secret' });
    expect(config.authFor('c.example')).toEqual({ username: 'carol', password: '', identityToken: 'refresh-me' });
    expect(config.authFor('d.example')).toEqual({ username: '', password: '', registryToken: 'bearer-me' });
    // Docker writes an empty entry when a credsStore holds the secret.
    expect(config.authFor('e.example')).toBeUndefined();
    expect(config.authFor('f.example')).toBeUndefined();
  });

  it('finds Docker Hub under its legacy key for every alias, and legacy https:// and http:// keys', async () => {
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hub:one') },
          'https://legacy.example:5000/': { auth: b64('legacy:two') },
          'http://plain.example': { auth: b64('plain:three') },
        },
      }),
    );
    const config = await DockerConfigFile.load(path);
    expect(config.authFor('docker.io')).toEqual({ username: 'hub', password: 'one' });
    expect(config.authFor('legacy.example:5000')).toEqual({ username: 'legacy', password: 'two' });
    expect(config.authFor('plain.example')).toEqual({ username: 'plain', password: 'three' });
    expect(config.authFor('legacy.example')).toBeUndefined();
  });

  it('prefers the exact key over a legacy one, and matches hosts case-insensitively', async () => {
    await writeFile(path, JSON.stringify({ auths: { 'https://Reg.Example/': { auth: b64('old:1') }, 'reg.example': { auth: b64('new:2') } } }));
    expect((await DockerConfigFile.load(path)).authFor('reg.example')).toEqual({ username: 'new', password: '2' });
  });

  it('reads credsStore and credHelpers, legacy keys included', async () => {
    await writeFile(path, JSON.stringify({ credsStore: 'desktop', credHelpers: { 'https://index.docker.io/v1/': 'hub-helper', 'gcr.io': 'gcloud' } }));
    const config = await DockerConfigFile.load(path);
    expect(config.credsStore).toBe('desktop');
    expect(config.credHelperFor('docker.io')).toBe('hub-helper');
    expect(config.credHelperFor('gcr.io')).toBe('gcloud');
    expect(config.credHelperFor('ghcr.io')).toBeUndefined();
  });

  it('fails clearly on a broken file, without quoting it', async () => {
    await writeFile(path, '{"auths": {"x": {"auth": "c2VjcmV0"}');
    let error = await loadError();
    expect(error.code).toBe('IO');
    expect(error.message).toContain(path);
    expect(error.message).toContain('not valid JSON');
    expect(error.message).not.toContain('c2VjcmV0');

    await writeFile(path, JSON.stringify({ auths: { x: { auth: 42 } } }));
    error = await loadError();
    expect(error.message).toContain('"auths.x.auth"');

    await writeFile(path, '[]');
    expect((await loadError()).message).toContain('not a JSON object');

    await writeFile(path, JSON.stringify({ auths: { x: { auth: b64('no-colon-secret') } } }));
    const config = await DockerConfigFile.load(path);
    const thrown: unknown = (() => {
      try {
        return config.authFor('x');
      } catch (caught) {
        return caught;
      }
    })();
    expect(thrown).toBeInstanceOf(StowageError);
    expect((thrown as StowageError).message).not.toContain('no-colon-secret');
  });
});

describe('writing', () => {
  it('writes a new file with mode 0600 in a new 0700 directory, entries as ORAS writes them', async () => {
    const nested = join(dir, 'new', 'config.json');
    const config = await DockerConfigFile.load(nested);
    config.setAuth('localhost:5000', { username: 'u', password: 'p' });
    config.setAuth('docker.io', { username: 'hub', password: 'h' });
    config.setAuth('idp.example', { username: '', password: '', identityToken: 'tok' });
    await config.save();
    expect((await stat(nested)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'new'))).mode & 0o777).toBe(0o700);
    expect(await readJson(nested)).toEqual({
      auths: {
        'localhost:5000': { auth: b64('u:p') },
        'https://index.docker.io/v1/': { auth: b64('hub:h') },
        'idp.example': { identitytoken: 'tok' },
      },
    });
    const again = await DockerConfigFile.load(nested);
    expect(again.authFor('index.docker.io')).toEqual({ username: 'hub', password: 'h' });
  });

  it('keeps every field it does not manage, and their order', async () => {
    const original = {
      HttpHeaders: { 'X-Meta': 'yes' },
      auths: {
        'localhost:5000': { auth: b64('old:old'), email: 'me@example.com', identitytoken: 'stale' },
        'other.example': { auth: b64('o:o'), custom: [1, 2, 3] },
      },
      psFormat: 'table {{.ID}}',
      credHelpers: { 'gcr.io': 'gcloud' },
      plugins: { nested: { deep: true } },
    };
    await writeFile(path, JSON.stringify(original), { mode: 0o644 });
    const config = await DockerConfigFile.load(path);
    config.setAuth('localhost:5000', { username: 'new', password: 'pw' });
    await config.save();
    const written = await readJson();
    expect(Object.keys(written)).toEqual(['HttpHeaders', 'auths', 'psFormat', 'credHelpers', 'plugins']);
    expect(written).toEqual({
      ...original,
      auths: {
        'localhost:5000': { email: 'me@example.com', auth: b64('new:pw') },
        'other.example': { auth: b64('o:o'), custom: [1, 2, 3] },
      },
    });
    // The file had 0644: credentials make it 0600.
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('replaces legacy keys of the host when it writes, and removes every key of the host', async () => {
    await writeFile(path, JSON.stringify({ auths: { 'https://reg.example/': { auth: b64('a:1') }, 'http://reg.example': { auth: b64('b:2') }, keep: { auth: b64('c:3') } } }));
    const config = await DockerConfigFile.load(path);
    config.setAuth('reg.example', { username: 'd', password: '4' });
    expect(Object.keys(config.authFor('reg.example') ?? {})).toEqual(['username', 'password']);
    await config.save();
    expect(Object.keys((await readJson()).auths as object)).toEqual(['keep', 'reg.example']);

    await writeFile(path, JSON.stringify({ auths: { 'https://reg.example/': { auth: b64('a:1') }, 'reg.example': { auth: b64('b:2') }, keep: {} } }));
    const other = await DockerConfigFile.load(path);
    expect(other.removeAuth('reg.example')).toBe(true);
    expect(other.removeAuth('reg.example')).toBe(false);
    await other.save();
    expect(await readJson()).toEqual({ auths: { keep: {} } });
  });

  it('sets and removes credHelpers entries', async () => {
    await writeFile(path, JSON.stringify({ credHelpers: { 'gcr.io': 'gcloud', 'https://reg.example/': 'old' } }));
    const config = await DockerConfigFile.load(path);
    config.setCredHelper('reg.example', 'stowage');
    expect(config.credHelperFor('reg.example')).toBe('stowage');
    expect(config.removeCredHelper('gcr.io', 'stowage')).toBe(false);
    await config.save();
    expect(await readJson()).toEqual({ credHelpers: { 'gcr.io': 'gcloud', 'reg.example': 'stowage' } });
    const again = await DockerConfigFile.load(path);
    expect(again.removeCredHelper('reg.example', 'stowage')).toBe(true);
    expect(again.modified).toBe(true);
  });

  it('writes atomically: a temp file renamed over the old one, nothing left behind', async () => {
    await writeFile(path, JSON.stringify({ auths: {} }));
    const before = (await stat(path)).ino;
    const config = await DockerConfigFile.load(path);
    config.setAuth('localhost:5000', { username: 'u', password: 'p' });
    await config.save();
    // A new inode: the old file was replaced whole, never truncated and rewritten in place.
    expect((await stat(path)).ino).not.toBe(before);
    expect(await readdir(dir)).toEqual(['config.json']);
  });

  it('leaves the old file and no temp file when the write fails or is cancelled', async () => {
    await writeFile(path, JSON.stringify({ auths: { keep: { auth: b64('k:k') } } }));
    const config = await DockerConfigFile.load(path);
    config.setAuth('localhost:5000', { username: 'u', password: 'p' });
    const controller = new AbortController();
    controller.abort();
    await expect(config.save({ signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });

    expect(await readJson()).toEqual({ auths: { keep: { auth: b64('k:k') } } });
    expect(await readdir(dir)).toEqual(['config.json']);

    // A directory where the file should be, by the time of the write: the rename fails.
    await rm(path);
    await mkdir(join(path, 'inside'), { recursive: true });
    await expect(config.save()).rejects.toMatchObject({ code: 'IO', message: expect.stringContaining(path) as unknown });
    expect(await readdir(dir)).toEqual(['config.json']);
    expect(await readdir(path)).toEqual(['inside']);
  });

  it('follows a config.json that is a symlink and replaces its target', async () => {
    const real = join(dir, 'real.json');
    await writeFile(real, JSON.stringify({ auths: {} }));
    await symlink(real, path);
    const config = await DockerConfigFile.load(path);
    config.setAuth('localhost:5000', { username: 'u', password: 'p' });
    await config.save();
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    expect(await readJson(real)).toEqual({ auths: { 'localhost:5000': { auth: b64('u:p') } } });
  });
});
