import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialStore } from '../../../src/registry/credentials/credential-store.js';
import { credentialHelperName, helperFixture, type HelperFixture } from '../../helpers/credential-helper-fixture.js';
import { FakeKeychain } from './fake-keychain.js';

let dir: string;
let path: string;
let fixture: HelperFixture;
let keychain: FakeKeychain;
let store: CredentialStore;

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stowage-store-'));
  path = join(dir, 'config.json');
  fixture = helperFixture(dir);
  keychain = new FakeKeychain();
  store = new CredentialStore({ configPath: path, env: { ...process.env, ...fixture.env }, keychain });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function config(): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

async function writeConfig(value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value));
}

async function seedHelper(entries: Record<string, { Username: string; Secret: string }>): Promise<void> {
  await writeFile(fixture.env.STOWAGE_TEST_CREDENTIALS_FILE!, JSON.stringify(entries));
}

describe('CredentialStore paths', () => {
  it('uses --registry-config, else $DOCKER_CONFIG, else ~/.docker', () => {
    expect(new CredentialStore({ configPath: '/c.json' }).configPath).toBe('/c.json');
    expect(new CredentialStore({ env: { DOCKER_CONFIG: '/d', HOME: '/h' } }).configPath).toBe('/d/config.json');
    expect(new CredentialStore({ env: { HOME: '/h' } }).configPath).toBe('/h/.docker/config.json');
  });
});

describe('get: credHelpers > credsStore > auths', () => {
  it('reads auths by exact normalised host, and nothing for other hosts or ports', async () => {
    await writeConfig({ auths: { 'localhost:5000': { auth: b64('u:p') } } });
    expect(await store.get('LOCALHOST:5000')).toEqual({ username: 'u', password: 'p' });
    expect(await store.get('localhost:5001')).toBeUndefined();
    expect(await store.get('localhost')).toBeUndefined();
  });

  it('finds docker.io credentials under https://index.docker.io/v1/ by every name', async () => {
    await writeConfig({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') } } });
    for (const name of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) expect(await store.get(name)).toEqual({ username: 'hub', password: 'pw' });
  });

  it('asks the credsStore helper first, and reads auths when it has nothing', async () => {
    await writeConfig({ credsStore: credentialHelperName, auths: { 'a.example': { auth: b64('file:a') }, 'b.example': { auth: b64('file:b') } } });
    await seedHelper({ 'a.example': { Username: 'helper', Secret: 'a' } });
    expect(await store.get('a.example')).toEqual({ username: 'helper', password: 'a' });
    expect(await store.get('b.example')).toEqual({ username: 'file', password: 'b' });
  });

  it('lets a credHelpers entry alone answer for its host', async () => {
    await writeConfig({ credsStore: 'not-installed', credHelpers: { 'a.example': credentialHelperName }, auths: { 'a.example': { auth: b64('file:a') } } });
    await seedHelper({ 'a.example': { Username: 'helper', Secret: 'a' } });
    expect(await store.get('a.example')).toEqual({ username: 'helper', password: 'a' });
    await seedHelper({});
    expect(await store.get('a.example')).toBeUndefined();
    // The credsStore is used for the other hosts, and its absence is an error.
    await expect(store.get('b.example')).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('sends Docker Hub to helpers as https://index.docker.io/v1/', async () => {
    await writeConfig({ credHelpers: { 'https://index.docker.io/v1/': credentialHelperName } });
    await seedHelper({ 'https://index.docker.io/v1/': { Username: '<token>', Secret: 'refresh' } });
    expect(await store.get('registry-1.docker.io')).toEqual({ username: '', password: '', identityToken: 'refresh' });
  });

  it('reads the keychain for hosts whose helper is "stowage"', async () => {
    await writeConfig({ credHelpers: { 'localhost:5000': 'stowage' } });
    keychain.entries.set('localhost:5000', { username: 'k', password: 'c' });
    expect(await store.get('localhost:5000')).toEqual({ username: 'k', password: 'c' });
  });
});

describe('put', () => {
  it('writes the file by default, atomically, 0600, and says the secret is in plain text', async () => {
    const result = await store.put('localhost:5000', { username: 'u', password: 'p' });
    expect(result).toEqual({ location: 'file', configPath: path, plainText: true });
    expect(await config()).toEqual({ auths: { 'localhost:5000': { auth: b64('u:p') } } });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['config.json']);
  });

  it('uses the helper configured for the host, then credsStore, and leaves the file alone', async () => {
    await writeConfig({ credsStore: credentialHelperName, other: 1 });
    const before = await readFile(path, 'utf8');
    const result = await store.put('docker.io', { username: 'hub', password: 'pw' });
    expect(result).toEqual({ location: 'helper', helper: credentialHelperName, configPath: path, plainText: false });
    expect(await fixture.entries()).toEqual({ 'https://index.docker.io/v1/': { Username: 'hub', Secret: 'pw' } });
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await store.get('index.docker.io')).toEqual({ username: 'hub', password: 'pw' });
  });

  it('with store: keychain, keeps the secret in the keychain and records credHelpers[host] = "stowage"', async () => {
    await writeConfig({ auths: { 'localhost:5000': { auth: b64('old:plain') }, keep: {} }, credsStore: credentialHelperName });
    const result = await store.put('localhost:5000', { username: 'u', password: 'p' }, { store: 'keychain' });
    expect(result).toEqual({ location: 'keychain', configPath: path, plainText: false });
    expect(keychain.entries.get('localhost:5000')).toEqual({ username: 'u', password: 'p' });
    // The plain-text copy is gone, the secret is nowhere in the file.
    expect(await config()).toEqual({ auths: { keep: {} }, credsStore: credentialHelperName, credHelpers: { 'localhost:5000': 'stowage' } });
    expect(await readFile(path, 'utf8')).not.toContain(b64('u:p'));
    expect(await store.get('localhost:5000')).toEqual({ username: 'u', password: 'p' });
    // Later logins to the host go to the keychain by themselves.
    expect((await store.put('localhost:5000', { username: 'u2', password: 'p2' })).location).toBe('keychain');
    expect(keychain.entries.get('localhost:5000')).toEqual({ username: 'u2', password: 'p2' });
  });

  it('with store: keychain and no keychain, throws UNSUPPORTED and writes nothing', async () => {
    keychain.unavailable = true;
    await expect(store.put('localhost:5000', { username: 'u', password: 'p' }, { store: 'keychain' })).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    expect(await readdir(dir)).toEqual([]);
  });

  it('with store: file, drops the host credHelpers entry (and its keychain entry) so the file is what is found', async () => {
    await writeConfig({ credHelpers: { 'localhost:5000': 'stowage', 'gcr.io': 'gcloud' } });
    keychain.entries.set('localhost:5000', { username: 'k', password: 'c' });
    const result = await store.put('localhost:5000', { username: 'u', password: 'p' }, { store: 'file' });
    expect(result.location).toBe('file');
    expect(keychain.entries.size).toBe(0);
    expect(await config()).toEqual({ credHelpers: { 'gcr.io': 'gcloud' }, auths: { 'localhost:5000': { auth: b64('u:p') } } });
    expect(await store.get('localhost:5000')).toEqual({ username: 'u', password: 'p' });
  });

  it('writes identity tokens as identitytoken', async () => {
    await store.put('idp.example', { username: '', password: '', identityToken: 'refresh' });
    expect(await config()).toEqual({ auths: { 'idp.example': { identitytoken: 'refresh' } } });
    expect(await store.get('idp.example')).toEqual({ username: '', password: '', identityToken: 'refresh' });
  });

  it('refuses empty credentials and bad hosts', async () => {
    await expect(store.put('localhost:5000', { username: '', password: '' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.put('not a host', { username: 'u', password: 'p' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('delete', () => {
  it('removes the credentials wherever they live: helper, credsStore, keychain, every auths key', async () => {
    await writeConfig({
      credsStore: credentialHelperName,
      credHelpers: { 'k.example': 'stowage', 'gcr.io': 'gcloud' },
      auths: { 'https://h.example/': { auth: b64('legacy:1') }, 'h.example': { auth: b64('new:2') }, 'k.example': {}, keep: { auth: b64('k:k') } },
    });
    await seedHelper({ 'h.example': { Username: 'helper', Secret: 'h' } });
    keychain.entries.set('k.example', { username: 'k', password: 'c' });

    expect((await store.delete('H.example')).removed.sort()).toEqual(['file', 'helper']);
    expect(await fixture.entries()).toEqual({});
    expect(await store.get('h.example')).toBeUndefined();

    expect((await store.delete('k.example')).removed).toEqual(['keychain']);
    expect(keychain.entries.size).toBe(0);
    expect(await config()).toEqual({ credsStore: credentialHelperName, credHelpers: { 'gcr.io': 'gcloud' }, auths: { keep: { auth: b64('k:k') } } });

    expect((await store.delete('nothing.example')).removed).toEqual([]);
  });

  it('cleans the file even when a helper fails, then reports the failure', async () => {
    const failing = new CredentialStore({ configPath: path, env: { ...process.env, ...fixture.env, STOWAGE_TEST_CREDENTIALS_FAIL: '1' }, keychain });
    await writeConfig({ credsStore: credentialHelperName, auths: { 'h.example': { auth: b64('u:p') } } });
    await expect(failing.delete('h.example')).rejects.toMatchObject({ code: 'IO', message: expect.stringContaining('storage is locked') as unknown });
    expect(await config()).toEqual({ credsStore: credentialHelperName, auths: {} });
  });
});
