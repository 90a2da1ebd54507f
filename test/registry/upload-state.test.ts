/**
 * Range parsing and chunk planning (pure), the upload session files in the state directory, and the digest
 * cache: what is kept, when it is trusted, and when it is forgotten.
 */
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigestCache, digestCacheFileName } from '../../src/content/digest-cache.js';
import { fileIdentity, type FileIdentity } from '../../src/content/file-identity.js';
import { defaultStateDirectory } from '../../src/content/state-directory.js';
import { effectiveChunkSize, minimumChunkSize, nextChunk, parseRange, planChunks } from '../../src/registry/upload.js';
import { UploadSessions, type UploadSessionKey } from '../../src/registry/upload-state.js';

const mebibyte = 1024 * 1024;
const digest = `sha256:${'ab'.repeat(32)}`;
let sandbox: string;

beforeAll(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'stowage-upload-state-'));
});

afterAll(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

describe('parseRange', () => {
  it('reads 0-<last> with and without bytes=, as the next offset', () => {
    expect(parseRange('0-1023')).toBe(1024);
    expect(parseRange('bytes=0-1023')).toBe(1024);
    expect(parseRange(' bytes=0-67108863 ')).toBe(64 * mebibyte);
    expect(parseRange('BYTES=0-9')).toBe(10);
  });

  it('reads 0-0 as an empty session (docker-registry answers it before any byte)', () => {
    expect(parseRange('0-0')).toBe(0);
    expect(parseRange('bytes=0-0')).toBe(0);
  });

  it('refuses what is not a range from 0', () => {
    for (const value of [undefined, '', '1024', '5-10', '0-', '-5', 'bytes 0-9', '0-9/10', '0-x', '10-5', `0-${'9'.repeat(20)}`]) {
      expect(parseRange(value), String(value)).toBeUndefined();
    }
  });
});

describe('chunk planning', () => {
  it('cuts [offset, size) into chunks of the chunk size, the last one shorter', () => {
    expect(planChunks(0, 10 * mebibyte + 1, 4 * mebibyte)).toEqual([
      { start: 0, end: 4 * mebibyte },
      { start: 4 * mebibyte, end: 8 * mebibyte },
      { start: 8 * mebibyte, end: 10 * mebibyte + 1 },
    ]);
    expect(planChunks(3, 5, 4 * mebibyte)).toEqual([{ start: 3, end: 5 }]);
    expect(planChunks(5, 5, mebibyte)).toEqual([]);
    expect(nextChunk(7, 5, mebibyte)).toBeUndefined();
  });

  it('plans from whatever offset the registry reports', () => {
    expect(planChunks(1_348_576, 3 * mebibyte, mebibyte).map((chunk) => chunk.start)).toEqual([1_348_576, 2_397_152]);
  });

  it('raises the chunk size to OCI-Chunk-Min-Length and to at least 1 MiB', () => {
    expect(effectiveChunkSize(64 * mebibyte)).toBe(64 * mebibyte);
    expect(effectiveChunkSize(64 * mebibyte, 5 * mebibyte)).toBe(64 * mebibyte);
    expect(effectiveChunkSize(8 * mebibyte, 20 * mebibyte)).toBe(20 * mebibyte);
    expect(effectiveChunkSize(1000)).toBe(minimumChunkSize);
  });
});

describe('defaultStateDirectory', () => {
  it('is $STOWAGE_STATE_DIR, else $XDG_STATE_HOME/stowage, else ~/.local/state/stowage', () => {
    expect(defaultStateDirectory({ STOWAGE_STATE_DIR: '/s', XDG_STATE_HOME: '/x', HOME: '/h' })).toBe('/s');
    expect(defaultStateDirectory({ XDG_STATE_HOME: '/x', HOME: '/h' })).toBe('/x/stowage');
    expect(defaultStateDirectory({ XDG_STATE_HOME: 'relative', HOME: '/h' })).toBe('/h/.local/state/stowage');
    expect(defaultStateDirectory({ STOWAGE_STATE_DIR: '', HOME: '/h' })).toBe('/h/.local/state/stowage');
  });
});

async function identityOf(path: string): Promise<FileIdentity> {
  return fileIdentity(await stat(path, { bigint: true }));
}

describe('UploadSessions', () => {
  const key = async (name: string, path: string): Promise<UploadSessionKey> => ({ registry: 'http://127.0.0.1:5000/', repository: name, path, identity: await identityOf(path) });

  it('keeps a session per (registry, repository, file) across instances, and forgets it', async () => {
    const state = join(sandbox, 'sessions-1');
    const file = join(sandbox, 'sessions-1.bin');
    await writeFile(file, 'content');
    const location = new URL('http://127.0.0.1:5000/v2/app/blobs/uploads/u1?_state=abc');
    await new UploadSessions(state).save(await key('app', file), location, 8 * mebibyte);

    const found = await new UploadSessions(state).find(await key('app', file));
    expect(found.session?.location.href).toBe(location.href);
    expect(found.session?.offset).toBe(8 * mebibyte);
    // Another repository or registry has no session.
    expect((await new UploadSessions(state).find(await key('other', file))).session).toBeUndefined();
    expect((await new UploadSessions(state).find({ ...(await key('app', file)), registry: 'http://127.0.0.1:5001/' })).session).toBeUndefined();

    await new UploadSessions(state).forget(await key('app', file));
    expect(await new UploadSessions(state).find(await key('app', file))).toEqual({});
  });

  it('writes owner-only files and leaves no temp file', async () => {
    const state = join(sandbox, 'sessions-2');
    const file = join(sandbox, 'sessions-2.bin');
    await writeFile(file, 'content');
    const sessions = new UploadSessions(state);
    await sessions.save(await key('app', file), new URL('http://127.0.0.1:5000/u'), 1);
    await sessions.save(await key('app', file), new URL('http://127.0.0.1:5000/u2'), 2);
    const names = await readdir(sessions.directory);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^[0-9a-f]{64}\.json$/);
    expect((await stat(join(sessions.directory, names[0] ?? ''))).mode & 0o777).toBe(0o600);
    expect((await stat(sessions.directory)).mode & 0o777).toBe(0o700);
    const saved = JSON.parse(await readFile(join(sessions.directory, names[0] ?? ''), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ version: 1, repository: 'app', path: file, location: 'http://127.0.0.1:5000/u2', offset: 2 });
  });

  it('returns the session of another version of the file as stale, and forgets it', async () => {
    const state = join(sandbox, 'sessions-3');
    const file = join(sandbox, 'sessions-3.bin');
    await writeFile(file, 'version 1');
    const before = await key('app', file);
    await new UploadSessions(state).save(before, new URL('http://127.0.0.1:5000/old'), 4);
    await writeFile(file, 'version 2, longer');
    const found = await new UploadSessions(state).find(await key('app', file));
    expect(found.session).toBeUndefined();
    expect(found.stale?.href).toBe('http://127.0.0.1:5000/old');
    expect(await new UploadSessions(state).find(await key('app', file))).toEqual({});
  });

  it('expires sessions older than the age limit, and ignores a corrupt file', async () => {
    const state = join(sandbox, 'sessions-4');
    const file = join(sandbox, 'sessions-4.bin');
    await writeFile(file, 'content');
    const sessions = new UploadSessions(state);
    await sessions.save(await key('app', file), new URL('http://127.0.0.1:5000/u'), 1);
    const [name = ''] = await readdir(sessions.directory);
    const old = new Date(Date.now() - 8 * 24 * 60 * 60 * 1000);
    await utimes(join(sessions.directory, name), old, old);
    expect(await new UploadSessions(state).find(await key('app', file))).toEqual({});
    expect(await readdir(sessions.directory)).toEqual([]);

    await sessions.save(await key('app', file), new URL('http://127.0.0.1:5000/u'), 1);
    await writeFile(join(sessions.directory, name), '{ not json');
    expect(await new UploadSessions(state).find(await key('app', file))).toEqual({});
    expect(await new UploadSessions(state, { maxAgeMs: 1 }).find(await key('app', file))).toEqual({});
  });
});

describe('DigestCache', () => {
  async function oldFile(name: string, content: string): Promise<string> {
    const path = join(sandbox, name);
    await writeFile(path, content);
    return path;
  }

  it('remembers a digest per path and file version, across instances', async () => {
    const state = join(sandbox, 'cache-1');
    const path = await oldFile('cache-1.bin', 'hello');
    const identity = await identityOf(path);
    const cache = await DigestCache.open(state, { racyWindowMs: 0 });
    expect(cache.get(path, identity)).toBeUndefined();
    cache.set(path, identity, digest, Date.now() + 1);
    await cache.save();
    const again = await DigestCache.open(state);
    expect(again.get(path, identity)).toBe(digest);
    // Any change of the identity is a miss.
    expect(again.get(path, { ...identity, size: identity.size + 1 })).toBeUndefined();
    expect(again.get(path, { ...identity, mtimeNs: `${identity.mtimeNs}1` })).toBeUndefined();
    expect(again.get(path, { ...identity, ctimeNs: '1' })).toBeUndefined();
    expect(again.get(path, { ...identity, ino: '1' })).toBeUndefined();
    expect(again.get(join(sandbox, 'elsewhere'), identity)).toBeUndefined();
  });

  it('does not trust a file changed within the racy window before it was read', async () => {
    const state = join(sandbox, 'cache-2');
    const path = await oldFile('cache-2.bin', 'hello');
    const identity = await identityOf(path);
    const cache = await DigestCache.open(state);
    cache.set(path, identity, digest, Date.now());
    expect(cache.get(path, identity)).toBeUndefined();
    // The same file, read well after its last change, is kept.
    cache.set(path, identity, digest, Date.now() + 2_001);
    expect(cache.get(path, identity)).toBe(digest);
    // A racy record drops what was known.
    cache.set(path, identity, digest, Date.now());
    expect(cache.get(path, identity)).toBeUndefined();
  });

  it('merges with what other processes saved, and keeps the most recent entries within the limits', async () => {
    const state = join(sandbox, 'cache-3');
    const paths = await Promise.all([0, 1, 2].map((n) => oldFile(`cache-3-${n}.bin`, `file ${n}`)));
    const identities = await Promise.all(paths.map((path) => identityOf(path)));
    const first = await DigestCache.open(state, { racyWindowMs: 0 });
    const second = await DigestCache.open(state, { racyWindowMs: 0, maxEntries: 2 });
    first.set(paths[0] ?? '', identities[0]!, digest, Date.now() + 1);
    await first.save();
    await new Promise((resolve) => setTimeout(resolve, 5));
    second.set(paths[1] ?? '', identities[1]!, digest, Date.now() + 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    second.set(paths[2] ?? '', identities[2]!, digest, Date.now() + 1);
    await second.save();
    const merged = JSON.parse(await readFile(join(state, digestCacheFileName), 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(merged.entries).sort()).toEqual([paths[1], paths[2]].sort());
  });

  it('starts empty from a corrupt file, and an in-memory cache writes nothing', async () => {
    const state = join(sandbox, 'cache-4');
    const path = await oldFile('cache-4.bin', 'x');
    const identity = await identityOf(path);
    const cache = await DigestCache.open(state, { racyWindowMs: 0 });
    cache.set(path, identity, digest, Date.now() + 1);
    await cache.save();
    await writeFile(join(state, digestCacheFileName), '{ not json');
    expect((await DigestCache.open(state)).get(path, identity)).toBeUndefined();

    const memory = DigestCache.inMemory({ racyWindowMs: 0 });
    memory.set(path, identity, digest, Date.now() + 1);
    await memory.save();
    expect(memory.get(path, identity)).toBe(digest);
    expect(await readdir(sandbox)).not.toContain(digestCacheFileName);
  });
});
