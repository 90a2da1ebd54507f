import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract as tarExtract, pack as tarPack, type Header } from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/content/file-store.js';
import { readAll } from '../../src/content/store.js';
import { MemoryStore } from '../../src/content/memory-store.js';
import { copy } from '../../src/copy/copy.js';
import { isStowageError, type ErrorCode } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { packManifest } from '../../src/pack/pack.js';
import { asBytes } from '../../src/pack/tar-streams.js';

const made: string[] = [];

async function temporaryDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stowage-file-store-'));
  made.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of made.splice(0)) {
    // Directories extracted read-only would block removal.
    await chmodTree(dir).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await chmodTree(join(dir, entry.name));
  }
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (!isStowageError(error)) throw error;
    expect(error.code, error.message).toBe(code);
    return error;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/** Every name under `dir`, recursively, relative, sorted. */
async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String).sort();
}

function titled(bytes: Uint8Array, title: string, mediaType: string = MediaType.ociLayer): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.byteLength, annotations: { [Annotation.title]: title } };
}

/** Packs the given paths (relative to `source`) like `push`, copies them to a memory store under `v1`. */
async function pushFiles(source: string, paths: string[]): Promise<{ registry: MemoryStore; layers: Descriptor[] }> {
  const files = new FileStore(source);
  try {
    const layers: Descriptor[] = [];
    for (const path of paths) layers.push(await files.add(path));
    const packed = packManifest({ files: layers, created: false });
    for (const blob of packed.blobs) files.addBytes(blob.descriptor, blob.bytes);
    files.addBytes(packed.descriptor, packed.bytes);
    await files.tag(packed.descriptor, 'v1');
    const registry = new MemoryStore();
    await copy(files, 'v1', registry, 'v1');
    return { registry, layers };
  } finally {
    await files.close();
  }
}

async function pullAll(registry: MemoryStore, output: string, options: ConstructorParameters<typeof FileStore>[1] = {}): Promise<FileStore> {
  const files = new FileStore(output, options);
  await copy(registry, 'v1', files, 'v1');
  return files;
}

interface TarEntrySpec {
  name: string;
  type?: Header['type'];
  content?: string;
  linkname?: string;
  mode?: number;
}

async function tarGz(entries: TarEntrySpec[]): Promise<{ gz: Buffer; tar: Buffer }> {
  const pack = tarPack();
  for (const entry of entries) {
    const header = { name: entry.name, type: entry.type ?? 'file', mode: entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644), ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }) };
    if (header.type === 'file') pack.entry(header, Buffer.from(entry.content ?? ''));
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(Buffer.from(asBytes(chunk)));
  const tar = Buffer.concat(chunks);
  return { gz: gzipSync(tar), tar };
}

function directoryDescriptor(title: string, gz: Buffer, tar: Buffer): Descriptor {
  return {
    mediaType: MediaType.ociLayerGzip,
    digest: digestOf(gz),
    size: gz.byteLength,
    annotations: { [Annotation.title]: title, [Annotation.contentUnpack]: 'true', [Annotation.contentDigest]: digestOf(tar) },
  };
}

async function tarEntries(gz: Buffer): Promise<Header[]> {
  const extract = tarExtract();
  const headers: Header[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      headers.push(entry.header);
      entry.resume();
    }
  })();
  extract.end(gunzipSync(gz));
  await done;
  return headers;
}

describe('FileStore as a push source', () => {
  it('adds a file with the default media type and the title, hashing its bytes', async () => {
    const dir = await temporaryDirectory();
    await writeFile(join(dir, 'a.txt'), 'hello');
    const store = new FileStore(dir);
    const desc = await store.add('./a.txt');
    expect(desc).toEqual({ mediaType: MediaType.ociLayer, digest: digestOf('hello'), size: 5, annotations: { [Annotation.title]: 'a.txt' } });
    const custom = await store.add('a.txt', { name: 'other', mediaType: 'text/plain' });
    expect(custom.mediaType).toBe('text/plain');
    expect(custom.annotations?.[Annotation.title]).toBe('other');
    expect(await store.exists(desc)).toBe(true);
    expect(Buffer.from(await readAll(await store.fetch(desc), 1024, 'test')).toString()).toBe('hello');
  });

  it('refuses a missing file with FILE_NOT_FOUND naming it, a duplicate name and a bad media type', async () => {
    const dir = await temporaryDirectory();
    await writeFile(join(dir, 'a.txt'), 'x');
    const store = new FileStore(dir);
    const error = await expectCode(store.add('nope/missing.txt'), 'FILE_NOT_FOUND');
    expect(error.message).toContain('nope/missing.txt');
    await store.add('a.txt');
    await expectCode(store.add('a.txt'), 'INVALID_ARGUMENT');
    await expectCode(store.add('a.txt', { name: 'b', mediaType: 'not a media type' }), 'INVALID_MEDIA_TYPE');
  });

  it('fails the fetch of a file changed since it was added', async () => {
    const dir = await temporaryDirectory();
    await writeFile(join(dir, 'a.txt'), 'before');
    const store = new FileStore(dir);
    const desc = await store.add('a.txt');
    await writeFile(join(dir, 'a.txt'), 'after!');
    const stream = await store.fetch(desc);
    await expectCode(readAll(stream, 1024, 'test'), 'DIGEST_MISMATCH');
  });

  it('packs a directory as ORAS does: prefixed entries, uid/gid 0, modes, mtimes, symlinks, empty dirs', async () => {
    const dir = await temporaryDirectory();
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
    await mkdir(join(tree, 'empty'));
    await writeFile(join(tree, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(tree, 'run.sh'), 0o755);
    await writeFile(join(tree, 'sub', 'deeper', 'b.txt'), 'nested');
    await symlink('run.sh', join(tree, 'link'));
    const when = new Date('2021-02-03T04:05:06Z');
    await utimes(join(tree, 'sub', 'deeper', 'b.txt'), when, when);
    const store = new FileStore(dir);
    const desc = await store.add('tree');
    expect(desc.mediaType).toBe(MediaType.ociLayerGzip);
    expect(desc.annotations?.[Annotation.title]).toBe('tree');
    expect(desc.annotations?.[Annotation.contentUnpack]).toBe('true');
    const gz = Buffer.from(await readAll(await store.fetch(desc), 1024 * 1024, 'test'));
    expect(digestOf(gz)).toBe(desc.digest);
    expect(desc.annotations?.[Annotation.contentDigest]).toBe(digestOf(gunzipSync(gz)));
    const headers = await tarEntries(gz);
    expect(headers.map((h) => `${h.type} ${h.name}`)).toEqual([
      'directory tree',
      'directory tree/empty',
      'symlink tree/link',
      'file tree/run.sh',
      'directory tree/sub',
      'directory tree/sub/deeper',
      'file tree/sub/deeper/b.txt',
    ]);
    expect(headers.every((h) => h.uid === 0 && h.gid === 0)).toBe(true);
    expect(headers.find((h) => h.name === 'tree/link')?.linkname).toBe('run.sh');
    expect(headers.find((h) => h.name === 'tree/run.sh')?.mode).toBe(0o755);
    expect(headers.find((h) => h.name === 'tree/sub/deeper/b.txt')?.mtime.toISOString()).toBe(when.toISOString());
    // The archive lives in a temporary file until close().
    await store.close();
    await expectCode(store.fetch(desc), 'NOT_FOUND');
  });

  it('leaves its own archive out when the directory packed holds the temporary directory', async () => {
    const dir = await temporaryDirectory();
    await mkdir(join(dir, 'tree', 'scratch'), { recursive: true });
    await writeFile(join(dir, 'tree', 'a'), 'a');
    const store = new FileStore(dir, { temporaryDirectory: join(dir, 'tree', 'scratch') });
    const desc = await store.add('tree');
    const headers = await tarEntries(Buffer.from(await readAll(await store.fetch(desc), 1024 * 1024, 'test')));
    expect(headers.map((h) => h.name)).toEqual(['tree', 'tree/a', 'tree/scratch']);
    await store.close();
  });

  it('leaves no temporary archive behind when adding a directory is aborted', async () => {
    const dir = await temporaryDirectory();
    const scratch = await temporaryDirectory();
    await mkdir(join(dir, 'big'));
    await writeFile(join(dir, 'big', 'data'), Buffer.alloc(8 * 1024 * 1024, 7));
    const store = new FileStore(dir, { temporaryDirectory: scratch });
    const controller = new AbortController();
    const adding = store.add('big', { signal: controller.signal });
    setTimeout(() => {
      controller.abort();
    }, 1);
    await expectCode(adding, 'ABORTED');
    const [archives] = await readdir(scratch);
    expect(await readdir(join(scratch, archives ?? ''))).toEqual([]);
    await store.close();
    expect(await readdir(scratch)).toEqual([]);
  });
});

describe('FileStore round trip (push -> memory -> pull)', () => {
  it('round trips a file, an empty file and a unicode name', async () => {
    const source = await temporaryDirectory();
    const output = join(await temporaryDirectory(), 'out');
    await writeFile(join(source, 'a.txt'), 'alpha');
    await writeFile(join(source, 'empty'), '');
    await writeFile(join(source, 'データ 📦.txt'), 'unicode');
    const { registry } = await pushFiles(source, ['a.txt', 'empty', 'データ 📦.txt']);
    const pulled = await pullAll(registry, output);
    expect(await listTree(output)).toEqual(['a.txt', 'empty', 'データ 📦.txt'].sort());
    expect(await readFile(join(output, 'a.txt'), 'utf8')).toBe('alpha');
    expect((await stat(join(output, 'empty'))).size).toBe(0);
    expect(await readFile(join(output, 'データ 📦.txt'), 'utf8')).toBe('unicode');
    // The manifest stays in memory, so the pulled store resolves the tag.
    expect((await pulled.resolve('v1')).mediaType).toBe(MediaType.ociManifest);
  });

  it('round trips a directory with nested files, a symlink, an empty subdir, modes and mtimes', async () => {
    const source = await temporaryDirectory();
    const output = await temporaryDirectory();
    const tree = join(source, 'project');
    await mkdir(join(tree, 'src', 'lib'), { recursive: true });
    await mkdir(join(tree, 'empty'));
    await writeFile(join(tree, 'README'), 'read me');
    await writeFile(join(tree, 'src', 'lib', 'x.js'), 'export {}');
    await writeFile(join(tree, 'tool'), 'run');
    await chmod(join(tree, 'tool'), 0o750);
    await symlink('src/lib/x.js', join(tree, 'entry.js'));
    const when = new Date('2020-01-01T00:00:00Z');
    await utimes(join(tree, 'README'), when, when);
    await chmod(join(tree, 'src'), 0o700);
    const { registry } = await pushFiles(source, ['project']);
    await pullAll(registry, output);
    expect(await listTree(join(output, 'project'))).toEqual(['README', 'empty', 'entry.js', 'src', 'src/lib', 'src/lib/x.js', 'tool']);
    expect(await readFile(join(output, 'project', 'src', 'lib', 'x.js'), 'utf8')).toBe('export {}');
    expect(await readlink(join(output, 'project', 'entry.js'))).toBe('src/lib/x.js');
    expect((await stat(join(output, 'project', 'tool'))).mode & 0o777).toBe(0o750);
    expect((await stat(join(output, 'project', 'src'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(output, 'project', 'README'))).mtime.toISOString()).toBe(when.toISOString());
    expect((await stat(join(output, 'project', 'empty'))).isDirectory()).toBe(true);
    expect(await readdir(output)).toEqual(['project']);
  });

  it('merges a directory into an existing one, replacing files, as ORAS does', async () => {
    const source = await temporaryDirectory();
    const output = await temporaryDirectory();
    await mkdir(join(source, 'd'));
    await writeFile(join(source, 'd', 'new.txt'), 'new');
    await mkdir(join(output, 'd'));
    await writeFile(join(output, 'd', 'new.txt'), 'old');
    await writeFile(join(output, 'd', 'mine.txt'), 'kept');
    const { registry } = await pushFiles(source, ['d']);
    await pullAll(registry, output);
    expect(await readFile(join(output, 'd', 'new.txt'), 'utf8')).toBe('new');
    expect(await readFile(join(output, 'd', 'mine.txt'), 'utf8')).toBe('kept');
  });

  it('writes nested titles into created directories, and files with the same bytes under both names', async () => {
    const source = await temporaryDirectory();
    const output = await temporaryDirectory();
    await mkdir(join(source, 'a', 'b'), { recursive: true });
    await writeFile(join(source, 'a', 'b', 'one.txt'), 'same');
    await writeFile(join(source, 'two.txt'), 'same');
    const { registry } = await pushFiles(source, ['a/b/one.txt', 'two.txt']);
    await pullAll(registry, output);
    expect(await readFile(join(output, 'a', 'b', 'one.txt'), 'utf8')).toBe('same');
    expect(await readFile(join(output, 'two.txt'), 'utf8')).toBe('same');
  });
});

describe('FileStore as a pull destination', () => {
  it('refuses titles that leave the output directory with PATH_TRAVERSAL, unless allowed', async () => {
    const root = await temporaryDirectory();
    const output = join(root, 'out');
    const bytes = Buffer.from('x');
    const store = new FileStore(output);
    const climbing = await expectCode(store.push(titled(bytes, '../x'), bytes), 'PATH_TRAVERSAL');
    expect(climbing.message).toContain('../x');
    expect(climbing.message).toContain('--allow-path-traversal');
    await expectCode(store.push(titled(bytes, '/abs/x'), bytes), 'PATH_TRAVERSAL');
    await expectCode(store.push(titled(bytes, 'a/../../x'), bytes), 'PATH_TRAVERSAL');
    expect(await readdir(root)).toEqual(['out']);
    const allowed = new FileStore(output, { allowPathTraversal: true });
    await allowed.push(titled(bytes, '../x'), bytes);
    expect(await readFile(join(root, 'x'), 'utf8')).toBe('x');
  });

  it('refuses a title that escapes through an existing symlink', async () => {
    const root = await temporaryDirectory();
    const output = join(root, 'out');
    const outside = join(root, 'outside');
    await mkdir(output);
    await mkdir(outside);
    await symlink(outside, join(output, 'escape'));
    const bytes = Buffer.from('x');
    const store = new FileStore(output);
    await expectCode(store.push(titled(bytes, 'escape/x'), bytes), 'PATH_TRAVERSAL');
    await expectCode(store.push(titled(bytes, 'escape/deeper/x'), bytes), 'PATH_TRAVERSAL');
    expect(await readdir(outside)).toEqual([]);
    // A symlink that stays inside is fine.
    await mkdir(join(output, 'real'));
    await symlink('real', join(output, 'inside'));
    await store.push(titled(bytes, 'inside/x'), bytes);
    expect(await readFile(join(output, 'real', 'x'), 'utf8')).toBe('x');
  });

  it('leaves neither the file nor a temporary file when the digest does not match', async () => {
    const output = await temporaryDirectory();
    const store = new FileStore(output);
    const desc = titled(Buffer.from('expected'), 'f.txt');
    await expectCode(store.push(desc, Buffer.from('tampered')), 'DIGEST_MISMATCH');
    await expectCode(store.push({ ...desc, annotations: { [Annotation.title]: 'g.txt' } }, Readable.from([Buffer.from('too long, too long')])), 'SIZE_MISMATCH');
    expect(await readdir(output)).toEqual([]);
    // A failed write frees the name.
    await store.push(desc, Buffer.from('expected'));
    expect(await readFile(join(output, 'f.txt'), 'utf8')).toBe('expected');
  });

  it('replaces an existing file, or with keepOldFiles refuses with FILE_EXISTS and keeps it', async () => {
    const output = await temporaryDirectory();
    await writeFile(join(output, 'f.txt'), 'old');
    await mkdir(join(output, 'd'));
    const bytes = Buffer.from('new');
    const keeping = new FileStore(output, { keepOldFiles: true });
    await expectCode(keeping.push(titled(bytes, 'f.txt'), bytes), 'FILE_EXISTS');
    expect(await readFile(join(output, 'f.txt'), 'utf8')).toBe('old');
    const { gz, tar } = await tarGz([{ name: 'd', type: 'directory' }, { name: 'd/x', content: 'x' }]);
    await expectCode(keeping.push(directoryDescriptor('d', gz, tar), gz), 'FILE_EXISTS');
    expect(await readdir(join(output, 'd'))).toEqual([]);
    await keeping.push(titled(bytes, 'g.txt'), bytes);
    expect(await readFile(join(output, 'g.txt'), 'utf8')).toBe('new');
    const replacing = new FileStore(output);
    await replacing.push(titled(bytes, 'f.txt'), bytes);
    expect(await readFile(join(output, 'f.txt'), 'utf8')).toBe('new');
  });

  it('replaces a symlink at the target instead of writing through it', async () => {
    const root = await temporaryDirectory();
    const output = join(root, 'out');
    await mkdir(output);
    await writeFile(join(root, 'victim'), 'untouched');
    await symlink('../victim', join(output, 'f.txt'));
    const bytes = Buffer.from('new');
    await new FileStore(output).push(titled(bytes, 'f.txt'), bytes);
    expect((await lstat(join(output, 'f.txt'))).isFile()).toBe(true);
    expect(await readFile(join(root, 'victim'), 'utf8')).toBe('untouched');
  });

  it('unpacks into a symlinked directory only when it resolves inside', async () => {
    const root = await temporaryDirectory();
    const output = join(root, 'out');
    await mkdir(join(root, 'outside'));
    await mkdir(join(output, 'real'), { recursive: true });
    await symlink('../outside', join(output, 'd'));
    const { gz, tar } = await tarGz([{ name: 'd', type: 'directory' }, { name: 'd/x', content: 'x' }]);
    await expectCode(new FileStore(output).push(directoryDescriptor('d', gz, tar), gz), 'PATH_TRAVERSAL');
    expect(await readdir(join(root, 'outside'))).toEqual([]);
    await rm(join(output, 'd'));
    await symlink('real', join(output, 'd'));
    await new FileStore(output).push(directoryDescriptor('d', gz, tar), gz);
    expect(await readFile(join(output, 'real', 'x'), 'utf8')).toBe('x');
  });

  it('writes a file pushed twice at once only once, and validates tags', async () => {
    const output = await temporaryDirectory();
    const store = new FileStore(output);
    const bytes = Buffer.from('twice');
    await Promise.all([store.push(titled(bytes, 't.txt'), bytes), store.push(titled(bytes, 't.txt'), Readable.from([bytes]))]);
    expect(await readdir(output)).toEqual(['t.txt']);
    const manifest = Buffer.from('{}');
    const desc: Descriptor = { mediaType: 'application/json', digest: digestOf(manifest), size: 2 };
    await expectCode(store.tag(desc, 'v1'), 'NOT_FOUND');
    await store.push(desc, manifest);
    await expectCode(store.tag(desc, 'not a tag'), 'INVALID_REFERENCE');
    await store.tag(desc, 'v1');
    expect(await store.resolve('v1')).toEqual(desc);
    expect(await store.resolve(desc.digest)).toEqual(desc);
    await expectCode(store.resolve('v2'), 'NOT_FOUND');
  });

  it('with keepOldFiles, refuses a "." directory that would replace an existing file', async () => {
    const output = await temporaryDirectory();
    await writeFile(join(output, 'top.txt'), 'mine');
    const { gz, tar } = await tarGz([{ name: '.', type: 'directory' }, { name: 'new.txt', content: 'n' }, { name: 'top.txt', content: 't' }]);
    await expectCode(new FileStore(output, { keepOldFiles: true }).push(directoryDescriptor('.', gz, tar), gz), 'FILE_EXISTS');
    expect(await listTree(output)).toEqual(['top.txt']);
    expect(await readFile(join(output, 'top.txt'), 'utf8')).toBe('mine');
  });

  it('refuses two different blobs with the same title', async () => {
    const output = await temporaryDirectory();
    const store = new FileStore(output);
    await store.push(titled(Buffer.from('one'), 'same'), Buffer.from('one'));
    await expectCode(store.push(titled(Buffer.from('two'), 'same'), Buffer.from('two')), 'INVALID_MANIFEST');
    expect(await readFile(join(output, 'same'), 'utf8')).toBe('one');
  });

  it('leaves no temporary file when a write is aborted', async () => {
    const output = await temporaryDirectory();
    const store = new FileStore(output);
    const bytes = Buffer.alloc(1024 * 1024, 1);
    const stream = new PassThrough();
    stream.write(bytes.subarray(0, 1000));
    const controller = new AbortController();
    const pushing = store.push(titled(bytes, 'big.bin'), stream, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await readdir(output)).length).toBe(1);
    controller.abort();
    await expectCode(pushing, 'ABORTED');
    expect(await readdir(output)).toEqual([]);
  });

  it('leaves no temporary directory when an unpack is aborted', async () => {
    const output = await temporaryDirectory();
    const store = new FileStore(output);
    const { gz, tar } = await tarGz([{ name: 'd', type: 'directory' }, { name: 'd/x', content: 'x'.repeat(100_000) }]);
    const stream = new PassThrough();
    stream.write(gz.subarray(0, 50));
    const controller = new AbortController();
    const pushing = store.push(directoryDescriptor('d', gz, tar), stream, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    await expectCode(pushing, 'ABORTED');
    expect(await readdir(output)).toEqual([]);
  });

  it('keeps small untitled blobs and manifests in memory, and verifies and drops large ones', async () => {
    const output = await temporaryDirectory();
    const store = new FileStore(output);
    const small = Buffer.from('{"a":1}');
    const smallDesc: Descriptor = { mediaType: 'application/json', digest: digestOf(small), size: small.byteLength };
    await store.push(smallDesc, small);
    expect(await store.exists(smallDesc)).toBe(true);
    expect(Buffer.from(await readAll(await store.fetch(smallDesc), 1024, 'test')).equals(small)).toBe(true);
    const large = Buffer.alloc(5 * 1024 * 1024, 3);
    const largeDesc: Descriptor = { mediaType: MediaType.ociLayer, digest: digestOf(large), size: large.byteLength };
    await expectCode(store.push(largeDesc, Buffer.alloc(large.byteLength, 4)), 'DIGEST_MISMATCH');
    expect(await store.exists(largeDesc)).toBe(false);
    await store.push(largeDesc, Readable.from([large]));
    expect(await store.exists(largeDesc)).toBe(true);
    await expectCode(store.fetch(largeDesc), 'NOT_FOUND');
    expect(await readdir(output)).toEqual([]);
  });

  it('says titled blobs do not exist until it has written them', async () => {
    const output = await temporaryDirectory();
    await writeFile(join(output, 'f.txt'), 'same');
    const store = new FileStore(output);
    const desc = titled(Buffer.from('same'), 'f.txt');
    expect(await store.exists(desc)).toBe(false);
    await store.push(desc, Buffer.from('same'));
    expect(await store.exists(desc)).toBe(true);
  });
});

describe('FileStore unpacking directories', () => {
  it('unpacks under the title and strips its prefix; "." unpacks into the output directory', async () => {
    const output = await temporaryDirectory();
    const store = new FileStore(output);
    const nested = await tarGz([{ name: 'a/b', type: 'directory' }, { name: 'a/b/f', content: 'f' }, { name: 'a/b/g/', type: 'directory' }]);
    await store.push(directoryDescriptor('a/b', nested.gz, nested.tar), nested.gz);
    expect(await listTree(output)).toEqual(['a', 'a/b', 'a/b/f', 'a/b/g']);
    const dot = await tarGz([{ name: '.', type: 'directory' }, { name: 'top.txt', content: 't' }, { name: 'e', type: 'directory' }, { name: 'e/x', content: 'x' }]);
    await store.push(directoryDescriptor('.', dot.gz, dot.tar), dot.gz);
    expect(await listTree(output)).toEqual(['a', 'a/b', 'a/b/f', 'a/b/g', 'e', 'e/x', 'top.txt']);
  });

  const malicious: [string, TarEntrySpec[]][] = [
    ['an entry climbing out (../evil)', [{ name: '../evil', content: 'evil' }]],
    ['an entry climbing out after the prefix (d/../../evil)', [{ name: 'd/../../evil', content: 'evil' }]],
    ['an entry without the title prefix', [{ name: 'other/file', content: 'evil' }]],
    ['an absolute entry', [{ name: '/tmp/evil', content: 'evil' }]],
    ['a symlink pointing outside', [{ name: 'd', type: 'directory' }, { name: 'd/link', type: 'symlink', linkname: '../../outside' }]],
    ['an absolute symlink', [{ name: 'd/link', type: 'symlink', linkname: '/etc/passwd' }]],
    ['a symlink to the directory next door', [{ name: 'd/link', type: 'symlink', linkname: '../sibling' }]],
    [
      'a symlink that only escapes once resolved (d/x -> sub/up/.. with d/sub/up -> ..)',
      [{ name: 'd/sub', type: 'directory' }, { name: 'd/sub/up', type: 'symlink', linkname: '..' }, { name: 'd/x', type: 'symlink', linkname: 'sub/up/..' }],
    ],
    ['a hardlink to a file outside', [{ name: 'd/hard', type: 'link', linkname: '../outside.txt' }]],
    ['a hardlink to an absolute path', [{ name: 'd/hard', type: 'link', linkname: '/etc/passwd' }]],
  ];

  for (const [label, entries] of malicious) {
    it(`refuses ${label} with PATH_TRAVERSAL and writes nothing`, async () => {
      const root = await temporaryDirectory();
      const output = join(root, 'out');
      await writeFile(join(root, 'outside.txt'), 'secret');
      const { gz, tar } = await tarGz(entries);
      const store = new FileStore(output);
      await expectCode(store.push(directoryDescriptor('d', gz, tar), gz), 'PATH_TRAVERSAL');
      expect(await readdir(output)).toEqual([]);
      expect((await readdir(root)).sort()).toEqual(['out', 'outside.txt']);
    });
  }

  it('never writes through a symlink planted earlier in the same archive', async () => {
    const root = await temporaryDirectory();
    const output = join(root, 'out');
    await mkdir(join(root, 'target'));
    // d/sub/up -> .. is inside; d/x -> sub/up/.. escapes once resolved; d/x/evil would be written outside.
    const { gz, tar } = await tarGz([
      { name: 'd/sub', type: 'directory' },
      { name: 'd/sub/up', type: 'symlink', linkname: '..' },
      { name: 'd/x', type: 'symlink', linkname: 'sub/up/..' },
      { name: 'd/x/evil', content: 'evil' },
    ]);
    await expectCode(new FileStore(output).push(directoryDescriptor('d', gz, tar), gz), 'PATH_TRAVERSAL');
    expect((await readdir(root)).sort()).toEqual(['out', 'target']);
    expect(await readdir(output)).toEqual([]);
  });

  it('keeps symlinks and hardlinks that stay inside', async () => {
    const output = await temporaryDirectory();
    const { gz, tar } = await tarGz([
      { name: 'd', type: 'directory' },
      { name: 'd/sub', type: 'directory' },
      { name: 'd/sub/file', content: 'content' },
      { name: 'd/up', type: 'symlink', linkname: 'sub/../sub/file' },
      { name: 'd/sub/back', type: 'symlink', linkname: '../up' },
      { name: 'd/hard', type: 'link', linkname: 'd/sub/file' },
      { name: 'd/dangling', type: 'symlink', linkname: 'nothing/here' },
    ]);
    await new FileStore(output).push(directoryDescriptor('d', gz, tar), gz);
    expect(await readFile(join(output, 'd', 'sub', 'back'), 'utf8')).toBe('content');
    expect(await readFile(join(output, 'd', 'hard'), 'utf8')).toBe('content');
    expect((await stat(join(output, 'd', 'hard'))).ino).toBe((await stat(join(output, 'd', 'sub', 'file'))).ino);
    expect(await readlink(join(output, 'd', 'dangling'))).toBe('nothing/here');
  });

  it('checks the uncompressed tar against io.deis.oras.content.digest and the blob digest, leaving nothing', async () => {
    const output = await temporaryDirectory();
    const store = new FileStore(output);
    const { gz, tar } = await tarGz([{ name: 'd', type: 'directory' }, { name: 'd/f', content: 'f' }]);
    const wrongTar = { ...directoryDescriptor('d', gz, tar), annotations: { ...directoryDescriptor('d', gz, tar).annotations, [Annotation.contentDigest]: digestOf('other') } };
    await expectCode(store.push(wrongTar, gz), 'DIGEST_MISMATCH');
    const tampered = Buffer.from(gz);
    tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 0xff;
    await expectCode(store.push(directoryDescriptor('d', gz, tar), tampered), 'DIGEST_MISMATCH');
    expect(await readdir(output)).toEqual([]);
  });

  it('refuses a blob that is not gzip with IO and leaves nothing', async () => {
    const output = await temporaryDirectory();
    const junk = Buffer.from('definitely not gzip');
    const desc: Descriptor = {
      mediaType: MediaType.ociLayerGzip,
      digest: digestOf(junk),
      size: junk.byteLength,
      annotations: { [Annotation.title]: 'd', [Annotation.contentUnpack]: 'true' },
    };
    await expectCode(new FileStore(output).push(desc, junk), 'IO');
    expect(await readdir(output)).toEqual([]);
  });

  it('unpacks what ORAS would: the uncompressed digest is over the exact tar bytes', async () => {
    const output = await temporaryDirectory();
    const { gz, tar } = await tarGz([{ name: 'd', type: 'directory' }, { name: 'd/f', content: 'f' }]);
    expect(createHash('sha256').update(tar).digest('hex')).toBe(digestOf(tar).slice('sha256:'.length));
    await new FileStore(output).push(directoryDescriptor('d', gz, tar), Readable.from([gz.subarray(0, 7), gz.subarray(7)]));
    expect(await readFile(join(output, 'd', 'f'), 'utf8')).toBe('f');
  });
});
