import { describe, expect, it } from 'vitest';
import { serveCredentialHelper } from '../../../src/registry/credentials/helper-server.js';
import { FakeKeychain } from './fake-keychain.js';

describe('serveCredentialHelper (docker-credential-stowage)', () => {
  it('answers get, store, erase and list as docker-credential-helpers do', async () => {
    const keychain = new FakeKeychain();
    expect(await serveCredentialHelper('get', 'localhost:5000', keychain)).toEqual({ stdout: 'credentials not found in native keychain\n', exitCode: 1 });
    expect(await serveCredentialHelper('store', JSON.stringify({ ServerURL: 'localhost:5000', Username: 'u', Secret: 'p' }), keychain)).toEqual({ stdout: '', exitCode: 0 });
    expect(await serveCredentialHelper('store', JSON.stringify({ ServerURL: 'idp.example', Username: '<token>', Secret: 'refresh' }), keychain)).toEqual({ stdout: '', exitCode: 0 });
    expect(keychain.entries.get('idp.example')).toEqual({ username: '', password: '', identityToken: 'refresh' });
    const got = await serveCredentialHelper('get', 'localhost:5000\n', keychain);
    expect(got.exitCode).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual({ ServerURL: 'localhost:5000', Username: 'u', Secret: 'p' });
    expect(JSON.parse((await serveCredentialHelper('get', 'idp.example', keychain)).stdout)).toEqual({ ServerURL: 'idp.example', Username: '<token>', Secret: 'refresh' });
    expect(JSON.parse((await serveCredentialHelper('list', '', keychain)).stdout)).toEqual({ 'localhost:5000': 'u', 'idp.example': '<token>' });
    expect(await serveCredentialHelper('erase', 'localhost:5000', keychain)).toEqual({ stdout: '', exitCode: 0 });
    expect((await serveCredentialHelper('erase', 'localhost:5000', keychain)).exitCode).toBe(1);
  });

  it('fails with one line, never a secret', async () => {
    const keychain = new FakeKeychain();
    expect((await serveCredentialHelper('store', 'Secret=hunter2', keychain)).stdout).not.toContain('hunter2');
    expect(await serveCredentialHelper('frobnicate', '', keychain)).toMatchObject({ exitCode: 1 });
    keychain.unavailable = true;
    const answer = await serveCredentialHelper('store', JSON.stringify({ ServerURL: 'a', Username: 'u', Secret: 'hunter2' }), keychain);
    expect(answer.exitCode).toBe(1);
    expect(answer.stdout).toMatch(/^the OS keychain is not available[^\n]*\n$/);
    expect(answer.stdout).not.toContain('hunter2');
  });
});
