/**
 * Push and pull through the library, as the CLI does them, against a real docker-registry: every round
 * trip is compared byte for byte (files by sha256, trees entry by entry with modes and symlink targets);
 * pulls of hostile titles, hostile archives and tampered blobs must fail with their code and leave nothing
 * behind (no file outside the output directory, no file under its final name, no temporary file).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, pipeline } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack as tarPack, type Header } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/content/file-store.js';
import { copy } from '../../src/copy/copy.js';
import { isStowageError } from '../../src/errors.js';
import { packManifest } from '../../src/pack/pack.js';
import type { ReadOnlyTarget } from '../../src/content/store.js';
import { Annotation, MediaType, emptyDescriptor, isManifestMediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { HttpClient, type HttpExchangeEvent } from '../../src/registry/http.js';
import { RemoteRepository } from '../../src/registry/repository.js';
import {
  listTree,
  mebibyte,
  pullFiles,
  pushCraftedArtifact,
  pushFiles,
  sha256File,
  snapshotTree,
  temporariesIn,
  writeRandomFile,
  type CraftedLayer,
} from '../helpers/artifacts.js';
import { uniqueRepository, useRegistry, type RunningRegistry } from '../helpers/registry-harness.js';
import { expectCode, randomTag, rejection } from '../helpers/store-contract.js';

const registry = useRegistry();

let sandbox: string;
let src: string;
let out: string;

beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'stowage-push-pull-'));
  src = join(sandbox, 'src');
  out = join(sandbox, 'out');
  await mkdir(src);
});

afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

function repositoryOf(running: RunningRegistry, name = uniqueRepository('pushpull')): RemoteRepository {
  return new RemoteRepository({ registry: running.host, repository: name });
}

/** Where docker-registry's filesystem driver keeps a blob's bytes. */
function blobPath(running: RunningRegistry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(running.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

/** Writes random bytes to `src/<rel>` (parents created) and returns the digest. */
async function randomSourceFile(rel: string, size: number): Promise<string> {
  const path = join(src, rel);
  await mkdir(join(path, '..'), { recursive: true });
  return writeRandomFile(path, size);
}

async function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Paths under the sandbox that are outside `out` (and are not the push source). */
async function outsideOut(): Promise<string[]> {
  return (await listTree(sandbox)).filter((path) => path !== 'out' && !path.startsWith('out/') && path !== 'src' && !path.startsWith('src/'));
}

/** The error `promise` rejects with, `'resolved'`, or `'still running after <ms> ms'`: a hang fails the test instead of timing it out. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(resolve, ms, `still running after ${ms} ms`);
  });
  try {
    return await Promise.race([promise.then(() => 'resolved', (error: unknown) => error), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `repo` as a copy source whose blob streams fire `controller` once `bytes` of a blob have been read
 * (errors pass through, as `pipeline` forwards them); it notes the pull's temporary files seen under `out` then.
 */
function abortingAfter(repo: RemoteRepository, bytes: number, controller: AbortController): { target: ReadOnlyTarget; temporariesSeen: () => string[] } {
  let seen: string[] = [];
  const target: ReadOnlyTarget = {
    exists: (desc, options) => repo.exists(desc, options),
    resolve: (reference, options) => repo.resolve(reference, options),
    fetch: async (desc, options) => {
      const stream = await repo.fetch(desc, options);
      if (isManifestMediaType(desc.mediaType)) return stream;
      let read = 0;
      const watch = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          read += chunk.byteLength;
          if (read >= bytes && !controller.signal.aborted) {
            seen = readdirSync(out).filter((name) => name.startsWith('.stowage-'));
            controller.abort();
          }
          callback(null, chunk);
        },
      });
      pipeline(stream, watch, () => undefined);
      return watch;
    },
  };
  return { target, temporariesSeen: () => seen };
}

/** Blob upload sessions the registry's log shows for `repository`. */
function uploadSessions(running: RunningRegistry, repository: string): number {
  return running.log().split('\n').filter((line) => line.includes(`"POST /v2/${repository}/blobs/uploads/`)).length;
}

describe('push then pull through the registry, byte for byte', () => {
  it('round trips several files at once, including one in a subdirectory', async () => {
    const digests = new Map<string, string>([
      ['a.txt', await randomSourceFile('a.txt', 10)],
      ['b.bin', await randomSourceFile('b.bin', 300_000)],
      ['nested/deeper/c.json', await randomSourceFile('nested/deeper/c.json', 4097)],
    ]);
    const repo = repositoryOf(registry());
    const pushed = await pushFiles(repo, 'v1', src, [...digests.keys()]);
    expect(pushed.layers.map((layer) => layer.annotations?.[Annotation.title])).toEqual([...digests.keys()]);
    expect((await repo.resolve('v1')).digest).toBe(pushed.root.digest);

    const pulled = await pullFiles(repo, 'v1', out);
    expect(pulled.root.digest).toBe(pushed.root.digest);
    expect(pulled.written.map((desc) => desc.annotations?.[Annotation.title]).sort()).toEqual([...digests.keys()].sort());
    expect(await listTree(out)).toEqual(['a.txt', 'b.bin', 'nested', 'nested/deeper', 'nested/deeper/c.json']);
    for (const [rel, digest] of digests) expect(await sha256File(join(out, rel)), rel).toBe(digest);
  });

  it('round trips a directory: nested files, an empty subdirectory, symlinks, modes and mtimes', async () => {
    const tree = join(src, 'tree');
    await randomSourceFile('tree/top.txt', 1000);
    await randomSourceFile('tree/a/b/c.txt', 70_000);
    await randomSourceFile('tree/a/run.sh', 64);
    await randomSourceFile('tree/a/secret', 33);
    await mkdir(join(tree, 'empty'));
    await mkdir(join(tree, 'a', 'private'));
    await randomSourceFile('tree/a/private/key', 12);
    await symlink('a/b/c.txt', join(tree, 'file-link'));
    await symlink('a', join(tree, 'dir-link'));
    await symlink('../top.txt', join(tree, 'a', 'up-link'));
    await chmod(join(tree, 'a', 'run.sh'), 0o755);
    await chmod(join(tree, 'a', 'secret'), 0o600);
    await chmod(join(tree, 'a', 'private'), 0o700);
    await chmod(join(tree, 'empty'), 0o750);
    // Whole seconds: the tar format keeps seconds.
    const mtime = new Date('2021-02-03T04:05:06Z');
    await utimes(join(tree, 'a', 'b', 'c.txt'), mtime, mtime);

    const repo = repositoryOf(registry());
    const pushed = await pushFiles(repo, 'v1', src, ['tree']);
    expect(pushed.layers[0]?.mediaType).toBe(MediaType.ociLayerGzip);
    expect(pushed.layers[0]?.annotations?.[Annotation.contentUnpack]).toBe('true');

    await pullFiles(repo, 'v1', out);
    const expected = await snapshotTree(tree);
    const actual = await snapshotTree(join(out, 'tree'));
    expect([...actual.keys()]).toEqual([...expected.keys()]);
    for (const [rel, entry] of expected) expect(actual.get(rel), rel).toEqual(entry);
    expect(actual.get('empty')).toEqual({ type: 'directory', mode: 0o750 });
    expect(actual.get('file-link')).toEqual({ type: 'symlink', target: 'a/b/c.txt' });
    expect((await stat(join(out, 'tree', 'a', 'b', 'c.txt'))).mtime.getTime()).toBe(mtime.getTime());
    expect((await stat(join(out, 'tree'))).mode & 0o7777).toBe((await stat(tree)).mode & 0o7777);
    expect(await listTree(out)).toEqual(['tree', ...[...expected.keys()].map((rel) => `tree/${rel}`)]);
  });

  it('round trips an empty file (size 0) beside a non-empty one', async () => {
    await writeFile(join(src, 'empty.txt'), '');
    const other = await randomSourceFile('other.txt', 5);
    const repo = repositoryOf(registry());
    const pushed = await pushFiles(repo, 'v1', src, ['empty.txt', 'other.txt']);
    expect(pushed.layers[0]).toMatchObject({ size: 0, digest: 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' });

    await pullFiles(repo, 'v1', out);
    const info = await stat(join(out, 'empty.txt'));
    expect(info.isFile()).toBe(true);
    expect(info.size).toBe(0);
    expect(await sha256File(join(out, 'other.txt'))).toBe(other);
  });

  it('round trips unicode file names, byte for byte in the name too', async () => {
    const names = ['データ 📦.txt', 'naïve café.md'];
    const digests = new Map<string, string>();
    for (const name of names) digests.set(name, await randomSourceFile(name, 2048));
    const repo = repositoryOf(registry());
    const pushed = await pushFiles(repo, 'v1', src, names);
    expect(pushed.layers.map((layer) => layer.annotations?.[Annotation.title])).toEqual(names);
    // The manifest carries the names as UTF-8 JSON (not escaped or normalised away).
    expect(Buffer.from(pushed.bytes).toString('utf8')).toContain('"org.opencontainers.image.title":"データ 📦.txt"');

    await pullFiles(repo, 'v1', out);
    const written = await readdir(out);
    expect(written.map((name) => Buffer.from(name).toString('hex')).sort()).toEqual(names.map((name) => Buffer.from(name).toString('hex')).sort());
    for (const [name, digest] of digests) expect(await sha256File(join(out, name)), name).toBe(digest);
  });

  it('streams a 64 MiB random file up and back with flat memory', async () => {
    const size = 64 * mebibyte;
    const digest = await randomSourceFile('big.bin', size);
    const repo = repositoryOf(registry());
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    let progressed = 0;
    try {
      const pushed = await pushFiles(repo, 'v1', src, ['big.bin'], {
        onProgress: (desc, transferred) => {
          if (desc.size === size) progressed = transferred;
        },
      });
      expect(pushed.layers[0]).toMatchObject({ digest, size });
      expect(progressed).toBe(size);
      await pullFiles(repo, 'v1', out);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const growthMiB = (peak - baseline) / mebibyte;
    expect(growthMiB, `rss grew by ${growthMiB.toFixed(1)} MiB`).toBeLessThan(200);
    expect((await stat(join(out, 'big.bin'))).size).toBe(size);
    expect(await sha256File(join(out, 'big.bin'))).toBe(digest);
  });

  it('pulls the same artifact twice into the same directory: overwrites, still identical', async () => {
    const fileDigest = await randomSourceFile('f.bin', 5000);
    await randomSourceFile('dir/inner.txt', 100);
    await randomSourceFile('dir/sub/deep.txt', 200);
    const repo = repositoryOf(registry());
    await pushFiles(repo, 'v1', src, ['f.bin', 'dir']);
    await pullFiles(repo, 'v1', out);
    const first = await snapshotTree(out);
    expect(first.get('f.bin')).toMatchObject({ type: 'file', digest: fileDigest });

    // Damage the first pull: different bytes and size, a read-only file, a missing file.
    await writeFile(join(out, 'f.bin'), 'not the original');
    await chmod(join(out, 'f.bin'), 0o444);
    await writeFile(join(out, 'dir', 'inner.txt'), 'changed');
    await rm(join(out, 'dir', 'sub', 'deep.txt'));

    await pullFiles(repo, 'v1', out);
    const second = await snapshotTree(out);
    expect({ ...Object.fromEntries(second), 'f.bin': undefined }).toEqual({ ...Object.fromEntries(first), 'f.bin': undefined });
    expect(second.get('f.bin')).toMatchObject({ type: 'file', digest: fileDigest, size: 5000 });
    expect(await temporariesIn(out)).toEqual([]);
  });

  it('round trips the same bytes under two names, an empty directory, and a directory pushed as "."', async () => {
    const digest = await randomSourceFile('same/a.bin', 3000);
    await writeFile(join(src, 'same', 'b.bin'), await readFile(join(src, 'same', 'a.bin')));
    await mkdir(join(src, 'nothing'));
    const repo = repositoryOf(registry());
    const pushed = await pushFiles(repo, 'v1', src, ['same/a.bin', 'same/b.bin', 'nothing']);
    expect(pushed.layers[0]?.digest).toBe(pushed.layers[1]?.digest);
    await pullFiles(repo, 'v1', out);
    expect(await sha256File(join(out, 'same', 'a.bin'))).toBe(digest);
    expect(await sha256File(join(out, 'same', 'b.bin'))).toBe(digest);
    expect(await snapshotTree(join(out, 'nothing'))).toEqual(new Map());
    expect((await stat(join(out, 'nothing'))).isDirectory()).toBe(true);

    // "." packs the working directory itself; pulled, it unpacks into the output directory.
    const dotRepo = repositoryOf(registry());
    await pushFiles(dotRepo, 'v1', join(src, 'same'), ['.']);
    const dotOut = join(sandbox, 'dot-out');
    await pullFiles(dotRepo, 'v1', dotOut);
    expect(await snapshotTree(dotOut)).toEqual(await snapshotTree(join(src, 'same')));
  });

  it.each([
    ['without progress hooks', false],
    ['with progress hooks (Ctrl-C on a terminal)', true],
  ])('leaves no file and no temporary when a pull is aborted halfway through a large file, %s', async (_what, withProgress) => {
    const size = 16 * mebibyte;
    await randomSourceFile('big.bin', size);
    const repo = repositoryOf(registry());
    await pushFiles(repo, 'v1', src, ['big.bin']);
    const controller = new AbortController();
    let temporariesSeen: string[] = [];
    let pulling: Promise<unknown>;
    if (withProgress) {
      // Straight from the registry, aborted by a progress hook, as the CLI's Ctrl-C during a progress bar.
      pulling = pullFiles(repo, 'v1', out, {
        signal: controller.signal,
        onProgress: (desc, transferred) => {
          // Past the file store's 4 MiB write buffer, so the temporary file is sure to exist by now.
          if (desc.size === size && transferred >= 12 * mebibyte && !controller.signal.aborted) {
            temporariesSeen = readdirSync(out).filter((name) => name.startsWith('.stowage-'));
            controller.abort();
          }
        },
      });
    } else {
      const source = abortingAfter(repo, 4 * mebibyte, controller);
      pulling = pullFiles(source.target, 'v1', out, { signal: controller.signal }).finally(() => {
        temporariesSeen = source.temporariesSeen();
      });
    }
    const outcome = await settledWithin(pulling, 5_000);
    expect(isStowageError(outcome, 'ABORTED'), String(outcome)).toBe(true);
    // The abort came halfway: the partial file existed, and is gone.
    expect(temporariesSeen.length).toBeGreaterThan(0);
    expect(await pathExists(join(out, 'big.bin'))).toBe(false);
    expect(await temporariesIn(sandbox)).toEqual([]);
  });

  it('pulls with one request for the root manifest, a GET by tag: no HEAD to resolve it first', async () => {
    const digest = await randomSourceFile('one.bin', 5000);
    const name = uniqueRepository('pushpull');
    await pushFiles(repositoryOf(registry(), name), 'v1', src, ['one.bin']);
    const exchanges: HttpExchangeEvent[] = [];
    const client = new HttpClient({ onExchange: (event) => exchanges.push(event) });
    const pulled = await pullFiles(new RemoteRepository({ registry: registry().host, repository: name, client }), 'v1', out);
    const manifestRequests = exchanges.filter((event) => event.kind === 'request' && event.url.includes('/manifests/'));
    expect(manifestRequests.map((event) => (event.kind === 'request' ? `${event.method} ${event.url.slice(event.url.indexOf('/manifests/'))}` : ''))).toEqual(['GET /manifests/v1']);
    expect(pulled.root.digest).toMatch(/^sha256:/);
    expect(await sha256File(join(out, 'one.bin'))).toBe(digest);
  });

  it('pushing the same files again skips every blob', async () => {
    await randomSourceFile('one.bin', 3000);
    await randomSourceFile('two.bin', 40_000);
    await randomSourceFile('site/index.html', 700);
    const files = ['one.bin', 'two.bin', 'site'];
    const running = registry();
    const repo = repositoryOf(running);
    const first = await pushFiles(repo, 'v1', src, files, { created: new Date('2020-01-01T00:00:00Z') });
    const sessionsAfterFirst = uploadSessions(running, repo.repository);
    expect(sessionsAfterFirst).toBeGreaterThanOrEqual(files.length);

    // Another creation time: a new manifest over the same blobs.
    const skipped: Descriptor[] = [];
    const started: Descriptor[] = [];
    const second = await pushFiles(repo, 'v2', src, files, {
      created: new Date('2020-01-02T00:00:00Z'),
      onSkipped: (desc) => skipped.push(desc),
      onStart: (desc) => started.push(desc),
    });
    expect(second.root.digest).not.toBe(first.root.digest);
    expect(second.layers.map((layer) => layer.digest)).toEqual(first.layers.map((layer) => layer.digest));
    const blobs = [...first.layers.map((layer) => layer.digest), emptyDescriptor.digest];
    expect(skipped.map((desc) => desc.digest).sort()).toEqual([...blobs].sort());
    expect(started.map((desc) => desc.digest)).toEqual([second.root.digest]);
    expect(uploadSessions(running, repo.repository)).toBe(sessionsAfterFirst);

    // The same creation time: the very same manifest, skipped as a whole.
    const skippedAgain: Descriptor[] = [];
    const startedAgain: Descriptor[] = [];
    const third = await pushFiles(repo, 'v3', src, files, {
      created: new Date('2020-01-01T00:00:00Z'),
      onSkipped: (desc) => skippedAgain.push(desc),
      onStart: (desc) => startedAgain.push(desc),
    });
    expect(third.root.digest).toBe(first.root.digest);
    expect(skippedAgain.map((desc) => desc.digest)).toEqual([first.root.digest]);
    expect(startedAgain).toEqual([]);
    expect((await repo.resolve('v3')).digest).toBe(first.root.digest);
    expect(uploadSessions(running, repo.repository)).toBe(sessionsAfterFirst);
  });
});

describe('pull refuses titles that leave the output directory', () => {
  const goodBytes = Buffer.from('a good file\n');

  async function pushHostile(repo: RemoteRepository, title: string, payload: Buffer): Promise<void> {
    const layers: CraftedLayer[] = [
      { bytes: goodBytes, annotations: { [Annotation.title]: 'ok.txt' } },
      { bytes: payload, annotations: { [Annotation.title]: title } },
    ];
    await pushCraftedArtifact(repo, 'v1', layers);
  }

  it.each([
    ['../x', 'x'],
    ['a/../../x', 'x'],
    ['<sandbox>/abs/x', 'abs/x'],
  ])('refuses %s with PATH_TRAVERSAL and writes nothing outside', async (template, landing) => {
    const title = template.replace('<sandbox>', sandbox);
    const repo = repositoryOf(registry());
    const payload = randomBytes(100);
    await pushHostile(repo, title, payload);

    const error = await rejection(pullFiles(repo, 'v1', out));
    expect(isStowageError(error, 'PATH_TRAVERSAL'), String(error)).toBe(true);
    expect(String(error)).toContain(title);
    expect(await pathExists(join(sandbox, landing))).toBe(false);
    expect(await outsideOut()).toEqual([]);
    expect(await temporariesIn(out)).toEqual([]);
    expect(await temporariesIn(sandbox)).toEqual([]);
  });

  it('refuses the absolute title /abs/x with PATH_TRAVERSAL', async () => {
    // Nothing may exist there beforehand, or the check below proves nothing.
    expect(await pathExists('/abs')).toBe(false);
    const repo = repositoryOf(registry());
    await pushHostile(repo, '/abs/x', randomBytes(10));
    await expectCode(pullFiles(repo, 'v1', out), 'PATH_TRAVERSAL');
    expect(await pathExists('/abs')).toBe(false);
    expect(await outsideOut()).toEqual([]);
    expect(await temporariesIn(out)).toEqual([]);
  });

  it('writes ../x outside the output directory with allowPathTraversal', async () => {
    const repo = repositoryOf(registry());
    const payload = randomBytes(100);
    await pushHostile(repo, '../x', payload);
    const pulled = await pullFiles(repo, 'v1', out, { allowPathTraversal: true });
    expect(pulled.written.map((desc) => desc.annotations?.[Annotation.title]).sort()).toEqual(['../x', 'ok.txt']);
    expect((await readFile(join(sandbox, 'x'))).equals(payload)).toBe(true);
    expect((await readFile(join(out, 'ok.txt'))).equals(goodBytes)).toBe(true);
    expect(await temporariesIn(sandbox)).toEqual([]);
  });

  it('refuses a title that climbs through a symlink already in the output directory', async () => {
    const repo = repositoryOf(registry());
    await pushHostile(repo, 'escape/x', randomBytes(10));
    await mkdir(out);
    await mkdir(join(sandbox, 'elsewhere'));
    await symlink('../elsewhere', join(out, 'escape'));
    await expectCode(pullFiles(repo, 'v1', out), 'PATH_TRAVERSAL');
    expect(await readdir(join(sandbox, 'elsewhere'))).toEqual([]);
    expect(await temporariesIn(sandbox)).toEqual([]);
  });

  type TarEntry = { header: Partial<Header> & Pick<Header, 'name'>; body?: string };
  const fileEntry = (name: string, body: string): TarEntry => ({ header: { name, type: 'file', mode: 0o644 }, body });
  const directoryEntry = (name: string): TarEntry => ({ header: { name, type: 'directory', mode: 0o755 } });
  const symlinkEntry = (name: string, linkname: string): TarEntry => ({ header: { name, type: 'symlink', linkname } });

  /** A tar+gzip directory layer titled `d`: the entries `d/` and `d/ok.txt`, then `extra`. */
  async function directoryLayer(extra: TarEntry[]): Promise<CraftedLayer> {
    const tar = tarPack();
    const chunks: Buffer[] = [];
    const collected = (async () => {
      for await (const chunk of tar as AsyncIterable<Buffer>) chunks.push(chunk);
    })();
    for (const entry of [directoryEntry('d'), fileEntry('d/ok.txt', 'ok'), ...extra]) tar.entry(entry.header, entry.body ?? '');
    tar.finalize();
    await collected;
    return {
      bytes: gzipSync(Buffer.concat(chunks)),
      mediaType: MediaType.ociLayerGzip,
      annotations: { [Annotation.title]: 'd', [Annotation.contentUnpack]: 'true' },
    };
  }

  it.each([
    ['a file entry d/../../evil', [fileEntry('d/../../evil', 'evil')]],
    ['a file entry outside the title', [fileEntry('other/evil', 'evil')]],
    ['an absolute symlink', [symlinkEntry('d/link', '/etc')]],
    ['a symlink to ../../', [symlinkEntry('d/link', '../../')]],
    // Each link looks harmless on its own (x/l2 -> .. is d; l1 -> x/l2/.. is lexically d/x); resolved, l1 is d/..
    ['a chain of symlinks that escapes only once resolved, then a file through it', [directoryEntry('d/x'), symlinkEntry('d/x/l2', '..'), symlinkEntry('d/l1', 'x/l2/..'), fileEntry('d/l1/evil', 'evil')]],
    ['a chain of symlinks that escapes only once resolved', [directoryEntry('d/x'), symlinkEntry('d/x/l2', '..'), symlinkEntry('d/l1', 'x/l2/../..')]],
  ])('refuses a directory layer with %s: PATH_TRAVERSAL, nothing written', async (_what, extra) => {
    const repo = repositoryOf(registry());
    await pushCraftedArtifact(repo, 'v1', [await directoryLayer(extra)]);
    await expectCode(pullFiles(repo, 'v1', out), 'PATH_TRAVERSAL');
    // Not even the verified part (d/ok.txt): nothing appears under the target's name, nothing beside it.
    expect(await listTree(out)).toEqual([]);
    expect(await outsideOut()).toEqual([]);
  });
});

describe('pull of a blob tampered with inside the registry', () => {
  it('fails with DIGEST_MISMATCH (same size) and leaves no file and no temporary', async () => {
    const running = registry();
    await randomSourceFile('data.bin', 200_000);
    const good = await randomSourceFile('good.txt', 10);
    const repo = repositoryOf(running);
    const pushed = await pushFiles(repo, 'v1', src, ['data.bin', 'good.txt'], { concurrency: 1 });
    const target = pushed.layers[0]!;
    await writeFile(blobPath(running, target.digest), randomBytes(target.size));

    const error = await rejection(pullFiles(repo, 'v1', out, { concurrency: 1 }));
    expect(isStowageError(error, 'DIGEST_MISMATCH'), String(error)).toBe(true);
    expect(await pathExists(join(out, 'data.bin'))).toBe(false);
    expect(await temporariesIn(sandbox)).toEqual([]);
    // What was verified before the failure may stay; what is there is intact.
    if (await pathExists(join(out, 'good.txt'))) expect(await sha256File(join(out, 'good.txt'))).toBe(good);
    expect((await listTree(out)).filter((path) => path !== 'good.txt')).toEqual([]);
  });

  it('fails with DIGEST_MISMATCH, not a hang or an uncaught error, when progress hooks are on (as on a terminal)', async () => {
    const running = registry();
    await randomSourceFile('data.bin', 3 * mebibyte);
    const repo = repositoryOf(running);
    const pushed = await pushFiles(repo, 'v1', src, ['data.bin']);
    await writeFile(blobPath(running, pushed.layers[0]!.digest), randomBytes(3 * mebibyte));
    const progress: number[] = [];
    const pulling = pullFiles(repo, 'v1', out, {
      onProgress: (_desc, transferred) => {
        progress.push(transferred);
      },
    });
    const outcome = await settledWithin(pulling, 5_000);
    expect(isStowageError(outcome, 'DIGEST_MISMATCH'), String(outcome)).toBe(true);
    expect(progress.length).toBeGreaterThan(0);
    expect(await pathExists(join(out, 'data.bin'))).toBe(false);
    expect(await temporariesIn(sandbox)).toEqual([]);
  });

  it('fails with SIZE_MISMATCH when the stored blob changed size, and leaves nothing', async () => {
    const running = registry();
    await randomSourceFile('data.bin', 10_000);
    const repo = repositoryOf(running);
    const pushed = await pushFiles(repo, 'v1', src, ['data.bin']);
    await writeFile(blobPath(running, pushed.layers[0]!.digest), randomBytes(9_999));
    await expectCode(pullFiles(repo, 'v1', out), 'SIZE_MISMATCH');
    expect(await listTree(out).catch(() => [])).toEqual([]);
  });

  it('fails a tampered directory layer with DIGEST_MISMATCH and unpacks nothing', async () => {
    const running = registry();
    await randomSourceFile('site/index.html', 5000);
    await randomSourceFile('site/assets/app.js', 20_000);
    const repo = repositoryOf(running);
    const pushed = await pushFiles(repo, 'v1', src, ['site']);
    const layer = pushed.layers[0]!;
    await writeFile(blobPath(running, layer.digest), randomBytes(layer.size));
    await expectCode(pullFiles(repo, 'v1', out), 'DIGEST_MISMATCH');
    expect(await pathExists(join(out, 'site'))).toBe(false);
    expect(await listTree(out).catch(() => [])).toEqual([]);
  });

  it.each([
    ['without progress hooks', false],
    ['with progress hooks', true],
  ])('fails a push whose file changed after it was added with DIGEST_MISMATCH, %s, and the registry never has it', async (_what, withProgress) => {
    await randomSourceFile('moving.bin', 2 * mebibyte);
    const repo = repositoryOf(registry());
    const store = new FileStore(src);
    try {
      const layer = await store.add('moving.bin');
      const packed = packManifest({ files: [layer] });
      for (const blob of packed.blobs) store.addBytes(blob.descriptor, blob.bytes);
      store.addBytes(packed.descriptor, packed.bytes);
      // Same size, other bytes: only the digest can tell.
      await writeFile(join(src, 'moving.bin'), randomBytes(2 * mebibyte));
      const pushing = copy(store, packed.descriptor.digest, repo, 'v1', withProgress ? { onProgress: () => undefined } : {});
      const outcome = await settledWithin(pushing, 5_000);
      expect(isStowageError(outcome, 'DIGEST_MISMATCH'), String(outcome)).toBe(true);
      expect(await repo.exists(layer)).toBe(false);
      await expectCode(repo.resolve('v1'), 'NOT_FOUND');
    } finally {
      await store.close();
    }
  });

  it('fails a pull whose artifact names two different blobs with one title, writing neither over the other', async () => {
    const repo = repositoryOf(registry());
    const tag = randomTag();
    await pushCraftedArtifact(repo, tag, [
      { bytes: Buffer.from('first'), annotations: { [Annotation.title]: 'same.txt' } },
      { bytes: Buffer.from('second'), annotations: { [Annotation.title]: 'same.txt' } },
    ]);
    await expectCode(pullFiles(repo, tag, out, { concurrency: 1 }), 'INVALID_MANIFEST');
    expect(await temporariesIn(sandbox)).toEqual([]);
  });
});
