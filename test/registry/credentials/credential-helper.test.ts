import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StowageError } from '../../../src/errors.js';
import { CredentialHelper } from '../../../src/registry/credentials/credential-helper.js';
import { credentialHelperName, helperFixture, type HelperFixture } from '../../helpers/credential-helper-fixture.js';
import { expectCode } from '../../helpers/expect-code.js';

let dir: string;
let fixture: HelperFixture;
let helper: CredentialHelper;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stowage-helper-'));
  fixture = helperFixture(dir);
  helper = new CredentialHelper(credentialHelperName, { env: { ...process.env, ...fixture.env } });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<StowageError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(StowageError);
  return error as StowageError;
}

describe('CredentialHelper (the docker-credential-stowage-test fixture)', () => {
  it('stores, gets, lists and erases over the real protocol', async () => {
    expect(helper.program).toBe('docker-credential-stowage-test');
    expect(await helper.get('localhost:5000')).toBeUndefined();
    await helper.store('localhost:5000', { username: 'alice', password: 's3cret' });
    expect(await fixture.entries()).toEqual({ 'localhost:5000': { Username: 'alice', Secret: 's3cret' } });
    expect(await helper.get('localhost:5000')).toEqual({ username: 'alice', password: 's3cret' });
    expect(await helper.list()).toEqual({ 'localhost:5000': 'alice' });
    expect(await helper.erase('localhost:5000')).toBe(true);
    expect(await helper.erase('localhost:5000')).toBe(false);
    expect(await helper.get('localhost:5000')).toBeUndefined();
    expect(await fixture.calls()).toEqual([
      'get localhost:5000',
      'store localhost:5000',
      'get localhost:5000',
      'list ',
      'erase localhost:5000',
      'erase localhost:5000',
      'get localhost:5000',
    ]);
  });

  it('stores an identity token as username <token> and reads it back as one', async () => {
    await helper.store('https://index.docker.io/v1/', { username: '', password: '', identityToken: 'refresh-token' });
    expect(await fixture.entries()).toEqual({ 'https://index.docker.io/v1/': { Username: '<token>', Secret: 'refresh-token' } });
    expect(await helper.get('https://index.docker.io/v1/')).toEqual({ username: '', password: '', identityToken: 'refresh-token' });
  });

  it('reports a failing helper with its message, never the secret', async () => {
    const failing = new CredentialHelper(credentialHelperName, { env: { ...process.env, ...fixture.env, STOWAGE_TEST_CREDENTIALS_FAIL: '1' } });
    const error = await rejection(failing.store('localhost:5000', { username: 'alice', password: 'hunter2' }));
    expect(error.code).toBe('IO');
    expect(error.message).toBe('docker-credential-stowage-test store localhost:5000: helper failure: storage is locked');
    expect((await rejection(failing.get('localhost:5000'))).message).toContain('helper failure');
  });

  it('redacts the secret when a helper echoes it in its error', async () => {
    const script = join(dir, 'docker-credential-echo');
    await writeFile(script, '#!/bin/sh\ncat\necho\nexit 1\n', { mode: 0o755 });
    const echo = new CredentialHelper('echo', { env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` } });
    const error = await rejection(echo.store('localhost:5000', { username: 'alice', password: 'hunter2' }));
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain('***');
  });

  it('does not quote an answer that is not the protocol (it may hold the secret)', async () => {
    const script = join(dir, 'docker-credential-garbled');
    await writeFile(script, '#!/bin/sh\necho "Username=alice Secret=hunter2"\n', { mode: 0o755 });
    const garbled = new CredentialHelper('garbled', { env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` } });
    const error = await rejection(garbled.get('localhost:5000'));
    expect(error.code).toBe('IO');
    expect(error.message).not.toContain('hunter2');
  });

  it('says clearly that a helper is not installed', async () => {
    const missing = new CredentialHelper('no-such-helper', { env: { ...process.env, PATH: dir } });
    const error = await rejection(missing.get('localhost:5000'));
    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain('docker-credential-no-such-helper is not installed');
  });

  it('refuses helper names that are not program names', () => {
    for (const name of ['../evil', 'a b', '', '-x']) expectCode(() => new CredentialHelper(name), 'INVALID_ARGUMENT');
  });

  it('stops when the signal fires', async () => {
    const controller = new AbortController();
    controller.abort();
    expect((await rejection(helper.get('localhost:5000', { signal: controller.signal }))).code).toBe('ABORTED');
  });
});
