/**
 * How the built CLI fails: one `Error:` line (and at most one `Hint:`) naming what and why, the exit code of
 * the table in commands/base-command.ts, no stack trace unless --debug. Then the failures that must leave
 * the disk clean: names that climb out of the output directory, a corrupt blob, Ctrl-C mid-transfer.
 */
import { chmod, open, readFile, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packManifest, RemoteRepository, type Descriptor } from '../src/index.js';
import { freePort, uniqueRepository, useRegistry, type RunningRegistry } from '../test/helpers/registry-harness.js';
import { ok, startStowage, stowage, type RunResult } from './helpers/cli.js';
import {
  expectOneError,
  layoutBlobPath,
  listDir,
  patternBytes,
  readLayoutManifest,
  sha256,
  stderrLines,
  temporaryFiles,
  workspace,
  type Workspace,
} from './helpers/fixtures.js';
import { startStallProxy } from './helpers/stall-proxy.js';

const registry = useRegistry();

let ws: Workspace;
let src: string;

beforeAll(async () => {
  ws = await workspace('errors');
  src = await ws.mkdir('src');
  await writeFile(`${src}/hello.txt`, 'hello\n');
});

afterAll(async () => {
  await ws.cleanup();
});

function run(args: string[], cwd = src): Promise<RunResult> {
  return stowage(args, { cwd, env: ws.env });
}

/** Runs the same command without and with --debug: the stack shows only with --debug. */
async function runBoth(args: string[]): Promise<{ plain: RunResult; debug: RunResult }> {
  const [plain, debug] = await Promise.all([run(args), run([...args, '--debug'])]);
  return { plain, debug };
}

function expectStack(result: RunResult, code: number, firstLine: string): void {
  const context = `stderr: ${result.stderr}`;
  expect(result.code, context).toBe(code);
  // --debug also prints the HTTP exchanges ([debug] lines) before the error.
  expect(stderrLines(result).filter((line) => !line.startsWith('[debug] '))[0], context).toBe(firstLine);
  expect(result.stderr, context).toMatch(/^ {4}at /m);
}

describe('one-line errors with the right exit code', () => {
  it('a bad reference: exit 2, naming the reference and why', async () => {
    const [{ plain, debug }, pull] = await Promise.all([runBoth(['push', 'localhost:5000/Bad:v1', 'hello.txt']), run(['pull', 'localhost:5000/Bad:v1'])]);
    const line = expectOneError(plain, 2, ['localhost:5000/Bad:v1', 'lowercase']);
    expectStack(debug, 2, line);
    expectOneError(pull, 2, ['localhost:5000/Bad:v1', 'lowercase']);
  });

  it('a missing file: exit 1, naming the file', async () => {
    const layout = ws.path('missing-file-layout');
    const [{ plain, debug }, annotationFile, config] = await Promise.all([
      runBoth(['push', '--oci-layout', `${layout}:v1`, 'hello.txt', 'no-such-file.txt']),
      run(['push', '--oci-layout', `${layout}:v1`, 'hello.txt', '--annotation-file', 'no-such-annotations.json']),
      run(['push', '--oci-layout', `${layout}:v1`, 'hello.txt', '--config', 'no-such-config.json']),
    ]);
    const line = expectOneError(plain, 1, ['no-such-file.txt', 'no such file']);
    expectStack(debug, 1, line);
    expectOneError(annotationFile, 1, ['no-such-annotations.json']);
    expectOneError(config, 1, ['no-such-config.json']);
    // Nothing was tagged.
    await expect(readLayoutManifest(layout, 'v1')).rejects.toThrow();
  });

  it('an unreachable registry (a closed port): exit 1, naming the registry and the reason', async () => {
    const host = `127.0.0.1:${await freePort()}`;
    const [{ plain, debug }, push] = await Promise.all([runBoth(['pull', `${host}/app:v1`, '-o', ws.path('unreachable-out')]), run(['push', `${host}/app:v1`, 'hello.txt'])]);
    const line = expectOneError(plain, 1, [`${host}/app:v1`, /ECONNREFUSED|refused|cannot reach/]);
    expectStack(debug, 1, line);
    expectOneError(push, 1, [`${host}/app`, /ECONNREFUSED|refused|cannot reach/]);
    expect(await listDir(ws.path('unreachable-out'))).toEqual([]);
  });

  it('a tag that does not exist (404): exit 1, naming the reference', async () => {
    const name = `${registry().host}/${uniqueRepository('e2e-404')}`;
    ok(await run(['push', `${name}:v1`, 'hello.txt']), 'push');
    const [{ plain, debug }, resolve, tag] = await Promise.all([
      runBoth(['pull', `${name}:no-such-tag`, '-o', ws.path('not-found-out')]),
      run(['resolve', `${name}:no-such-tag`]),
      run(['tag', `${name}:no-such-tag`, 'v2']),
    ]);
    const line = expectOneError(plain, 1, [`${name}:no-such-tag`, /not found/i]);
    expectStack(debug, 1, line);
    expectOneError(resolve, 1, [`${name}:no-such-tag`, /not found/i]);
    expectOneError(tag, 1, [`${name}:no-such-tag`, /not found/i]);
    expect(await listDir(ws.path('not-found-out'))).toEqual([]);
  });

  it('an unknown flag: exit 2, naming the flag', async () => {
    const [{ plain, debug }, badValue] = await Promise.all([
      runBoth(['pull', 'localhost:5000/app:v1', '--no-such-flag']),
      run(['push', '--oci-layout', ws.path('flag-layout'), '--concurrency', 'many', 'hello.txt']),
    ]);
    const line = expectOneError(plain, 2, ['--no-such-flag']);
    expectStack(debug, 2, line);
    expectOneError(badValue, 2, ['--concurrency']);
  });

  it('an unknown flag with NODE_ENV=development (as in many developer shells): still only the one error line', async () => {
    // oclif warns "Command pull did not parse its arguments" outside production when parse() threw.
    const result = await stowage(['pull', 'localhost:5000/app:v1', '--no-such-flag'], { cwd: src, env: { ...ws.env, NODE_ENV: 'development' } });
    expectOneError(result, 2, ['--no-such-flag']);
  });
});

/** A layer with a hand-picked title (packManifest takes it as given; stowage push would clean it). */
function titled(bytes: Buffer, title: string, extra: Record<string, string> = {}, mediaType = 'application/vnd.oci.image.layer.v1.tar'): { desc: Descriptor; bytes: Buffer } {
  return { bytes, desc: { mediaType, digest: sha256(bytes), size: bytes.byteLength, annotations: { 'org.opencontainers.image.title': title, ...extra } } };
}

/** Pushes an artifact with these layers to the registry under `tag`, with the library. */
async function pushArtifact(running: RunningRegistry, repository: string, tag: string, layers: { desc: Descriptor; bytes: Buffer }[]): Promise<string> {
  const repo = new RemoteRepository({ registry: running.host, repository });
  for (const layer of layers) await repo.push(layer.desc, layer.bytes);
  const packed = packManifest({ files: layers.map((layer) => layer.desc), created: false });
  for (const blob of packed.blobs) await repo.push(blob.descriptor, blob.bytes);
  await repo.pushReference(packed.descriptor, packed.bytes, tag);
  return packed.descriptor.digest;
}

/** A tar+gzip of the given entries, with the sha256 of the uncompressed tar. */
async function tarGzip(entries: { name: string; type: 'file' | 'directory' | 'symlink'; content?: string; linkname?: string }[]): Promise<{ gz: Buffer; tarDigest: string }> {
  const tar = tarPack();
  const tarChunks: Buffer[] = [];
  const gzChunks: Buffer[] = [];
  tar.on('data', (chunk: unknown) => {
    if (Buffer.isBuffer(chunk)) tarChunks.push(chunk);
  });
  const written = pipeline(
    tar,
    createGzip(),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        gzChunks.push(chunk);
        callback();
      },
    }),
  );
  for (const entry of entries) {
    const header = { name: entry.name, type: entry.type, mode: entry.type === 'directory' ? 0o755 : 0o644, ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }) };
    if (entry.type === 'file') tar.entry(header, entry.content ?? '');
    else tar.entry(header);
  }
  tar.finalize();
  await written;
  return { gz: Buffer.concat(gzChunks), tarDigest: sha256(Buffer.concat(tarChunks)) };
}

describe('pull refuses names that land outside the output directory', () => {
  it('refuses "../x" (exit 1, PATH_TRAVERSAL, nothing written outside) and writes it with -T', async () => {
    const repository = uniqueRepository('e2e-traversal');
    const name = `${registry().host}/${repository}`;
    await pushArtifact(registry(), repository, 'dotdot', [titled(Buffer.from('inside\n'), 'inside.txt'), titled(Buffer.from('escaped\n'), '../x')]);
    const sandbox = await ws.mkdir('traversal-dotdot');
    const out = await ws.mkdir('traversal-dotdot', 'out');

    const refused = await run(['pull', `${name}:dotdot`, '-o', out]);
    const line = expectOneError(refused, 1, ['refusing to write "../x"', 'outside', out]);
    expect(line).toContain('--allow-path-traversal');
    expect(await listDir(sandbox)).toEqual(['out']);
    expect(await temporaryFiles(out)).toEqual([]);

    ok(await run(['pull', `${name}:dotdot`, '-o', out, '-T']), 'pull -T');
    expect(await readFile(`${sandbox}/x`, 'utf8')).toBe('escaped\n');
    expect(await readFile(`${out}/inside.txt`, 'utf8')).toBe('inside\n');
    expect(await temporaryFiles(sandbox)).toEqual([]);
  });

  it('refuses an absolute title (exit 1) and writes nothing there', async () => {
    const repository = uniqueRepository('e2e-absolute');
    const name = `${registry().host}/${repository}`;
    const sandbox = await ws.mkdir('traversal-absolute');
    // An absolute path inside the sandbox: were it written, it would land there, not on the host.
    const absolute = `${sandbox}/abs/x`;
    await pushArtifact(registry(), repository, 'abs', [titled(Buffer.from('absolute\n'), absolute)]);
    const out = await ws.mkdir('traversal-absolute', 'out');
    const refused = await run(['pull', `${name}:abs`, '-o', out]);
    expectOneError(refused, 1, [`refusing to write "${absolute}"`, 'absolute']);
    expect(await listDir(sandbox)).toEqual(['out']);
    expect(await listDir(out)).toEqual([]);
  });

  it('refuses to write through a symlink in the output directory that leads outside', async () => {
    const repository = uniqueRepository('e2e-symlink-way');
    const name = `${registry().host}/${repository}`;
    const from = await ws.mkdir('symlink-way-src', 'sub');
    await writeFile(`${from}/x.txt`, 'through a link\n');
    await ws.mkdir('symlink-way-src', 'site');
    await writeFile(ws.path('symlink-way-src', 'site', 'index.html'), '<p>hi</p>\n');
    ok(await stowage(['push', `${name}:v1`, 'sub/x.txt', 'site'], { cwd: ws.path('symlink-way-src'), env: ws.env }), 'push');

    const sandbox = await ws.mkdir('symlink-way');
    const elsewhere = await ws.mkdir('symlink-way', 'elsewhere');
    const out = await ws.mkdir('symlink-way', 'out');
    await symlink('../elsewhere', `${out}/sub`);
    await symlink('../elsewhere', `${out}/site`);
    const refused = await run(['pull', `${name}:v1`, '-o', out]);
    expectOneError(refused, 1, [/refusing to write "(sub\/x\.txt|site)"/, /symlink .*leads outside/]);
    expect(await listDir(elsewhere)).toEqual([]);
    expect(await listDir(sandbox)).toEqual(['elsewhere', 'out']);
    expect(await listDir(out)).toEqual(['site', 'sub']);
  });

  it('refuses a directory layer whose tar entries or symlinks climb out', async () => {
    const repository = uniqueRepository('e2e-tar-traversal');
    const name = `${registry().host}/${repository}`;
    const dotdot = await tarGzip([
      { name: 'd/', type: 'directory' },
      { name: 'd/ok.txt', type: 'file', content: 'ok\n' },
      { name: 'd/../../escaped.txt', type: 'file', content: 'escaped\n' },
    ]);
    const throughLink = await tarGzip([
      { name: 'e/', type: 'directory' },
      { name: 'e/up', type: 'symlink', linkname: '../..' },
      { name: 'e/up/escaped-through-link.txt', type: 'file', content: 'escaped\n' },
    ]);
    const unpack = (tarDigest: string): Record<string, string> => ({ 'io.deis.oras.content.digest': tarDigest, 'io.deis.oras.content.unpack': 'true' });
    const gzipType = 'application/vnd.oci.image.layer.v1.tar+gzip';
    await pushArtifact(registry(), repository, 'entry', [titled(dotdot.gz, 'd', unpack(dotdot.tarDigest), gzipType)]);
    await pushArtifact(registry(), repository, 'link', [titled(throughLink.gz, 'e', unpack(throughLink.tarDigest), gzipType)]);

    for (const tag of ['entry', 'link']) {
      const sandbox = await ws.mkdir(`tar-traversal-${tag}`);
      const out = await ws.mkdir(`tar-traversal-${tag}`, 'out');
      const refused = await run(['pull', `${name}:${tag}`, '-o', out]);
      expectOneError(refused, 1, tag === 'entry' ? ['unpack d', 'archive entry "d/../../escaped.txt" is outside'] : ['unpack e', 'symlink "e/up" -> "../.." points outside']);
      expect(await listDir(sandbox)).toEqual(['out']);
      expect(await listDir(out)).toEqual([]);
      expect(await listDir(ws.dir)).not.toContain('escaped.txt');
    }
  });
});

describe('a corrupt blob', () => {
  it('in an OCI layout: exit 1 with a digest mismatch; no file under its name, no temp file', async () => {
    const layout = ws.path('corrupt-layout');
    const data = patternBytes(3 * 1024 * 1024 + 17, 7);
    await writeFile(`${src}/data.bin`, data);
    ok(await run(['push', '--oci-layout', `${layout}:v1`, 'data.bin']), 'push');
    const digest = sha256(data);
    const blob = layoutBlobPath(layout, digest);
    // Layout blobs are read-only, as ORAS writes them.
    await chmod(blob, 0o644);
    const handle = await open(blob, 'r+');
    const position = 2 * 1024 * 1024 + 5;
    await handle.write(Buffer.from([data[position]! ^ 0xff]), 0, 1, position);
    await handle.close();
    expect((await stat(blob)).size).toBe(data.byteLength);

    const out = await ws.mkdir('corrupt-layout-out');
    const failed = await run(['pull', '--oci-layout', `${layout}:v1`, '-o', out]);
    expectOneError(failed, 1, [/digest/i, digest]);
    expect(await listDir(out)).toEqual([]);

    // A blob of the wrong size is refused too.
    await truncate(blob, 1024);
    expectOneError(await run(['pull', '--oci-layout', `${layout}:v1`, '-o', out]), 1, [/size|bytes/i]);
    expect(await listDir(out)).toEqual([]);
  });

  it('in an OCI layout, among other files: still one error line (no crash), and the corrupt file is not written', async () => {
    // Several blobs in flight: the failure cancels the others, whose streams must not crash the process.
    const layout = ws.path('corrupt-layout-many');
    const dir = await ws.mkdir('corrupt-many-src');
    const data = patternBytes(3 * 1024 * 1024, 9);
    await writeFile(`${dir}/bad.bin`, data);
    await writeFile(`${dir}/good.bin`, patternBytes(2 * 1024 * 1024, 10));
    await writeFile(`${dir}/small.txt`, 'small\n');
    const more = ['more-1.txt', 'more-2.txt', 'more-3.txt', 'more-4.txt'];
    for (const name of more) await writeFile(`${dir}/${name}`, `${name}\n`);
    // Files after the corrupt one start while it is failing (pull runs 3 transfers at once).
    ok(await stowage(['push', '--oci-layout', `${layout}:v1`, 'small.txt', 'bad.bin', 'good.bin', ...more], { cwd: dir, env: ws.env }), 'push');
    const blob = layoutBlobPath(layout, sha256(data));
    await chmod(blob, 0o644);
    const handle = await open(blob, 'r+');
    await handle.write(Buffer.from([data[100]! ^ 0xff]), 0, 1, 100);
    await handle.close();

    const out = await ws.mkdir('corrupt-layout-many-out');
    const failed = await run(['pull', '--oci-layout', `${layout}:v1`, '-o', out]);
    expectOneError(failed, 1, [/digest/i, sha256(data)]);
    expect(await listDir(out)).not.toContain('bad.bin');
    expect(await temporaryFiles(out)).toEqual([]);
  });

  it('served by the registry: exit 1 with a digest mismatch; no file under its name, no temp file', async () => {
    const repository = uniqueRepository('e2e-corrupt');
    const name = `${registry().host}/${repository}`;
    const data = patternBytes(2 * 1024 * 1024, 8);
    await writeFile(`${src}/remote.bin`, data);
    ok(await run(['push', `${name}:v1`, 'remote.bin']), 'push');
    const digest = sha256(data);
    const hex = digest.slice('sha256:'.length);
    const stored = `${registry().storage}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
    const handle = await open(stored, 'r+');
    await handle.write(Buffer.from([data[1000]! ^ 0x01]), 0, 1, 1000);
    await handle.close();

    const out = await ws.mkdir('corrupt-registry-out');
    const failed = await run(['pull', `${name}:v1`, '-o', out]);
    expectOneError(failed, 1, [/digest/i, digest]);
    expect(await listDir(out)).toEqual([]);
  });
});

/** Polls `condition` until it holds (a state to reach, not a delay), or fails after `timeoutMs`. */
async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Pushes a sparse 64 MiB big.bin to `repository:v1` and returns its digest: cheap to make, and far larger
 * than what the stall proxy lets through (8 MiB), so a download is held mid-blob whatever the machine's speed.
 */
async function pushSparseBig(repository: string): Promise<string> {
  const size = 64 * 1024 * 1024;
  const big = `${src}/big.bin`;
  await writeFile(big, '');
  await truncate(big, size);
  ok(await run(['push', `${registry().host}/${repository}:v1`, 'big.bin']), 'push');
  return sha256(Buffer.alloc(size));
}

/** Pulls `repository:v1` into `out` again: only the rest is asked for (206), and big.bin ends up whole. */
async function expectResumedPull(repository: string, out: string, digest: string): Promise<void> {
  const again = ok(await run(['pull', `${registry().host}/${repository}:v1`, '-o', out, '--debug']), 'pull again');
  expect(again.stderr).toMatch(/> {3}range: bytes=[1-9]\d*-\n/);
  expect(again.stderr).toMatch(/< 206 GET /);
  expect(await listDir(out)).toEqual(['big.bin']);
  expect(sha256(await readFile(`${out}/big.bin`))).toBe(digest);
}

describe('Ctrl-C', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s interrupts a pull mid-transfer: exit %i; the download is kept as .big.bin.<hex12>.partial and the next pull completes it', async (signal, exitCode) => {
    const repository = uniqueRepository(`e2e-${signal.toLowerCase()}`);
    const digest = await pushSparseBig(repository);

    const proxy = await startStallProxy(Number(registry().host.split(':')[1]), 8 * 1024 * 1024);
    try {
      const out = await ws.mkdir(`${signal.toLowerCase()}-out`);
      const pull = startStowage(['pull', `${proxy.host}/${repository}:v1`, '-o', out], { cwd: ws.dir, env: ws.env });
      let exited = false;
      void pull.result.then(() => (exited = true));
      // The transfer has begun: bytes flowed, then the proxy held the rest; the temp file is on disk.
      await Promise.race([proxy.stalled, pull.result.then((result) => Promise.reject(new Error(`pull ended early: ${JSON.stringify(result)}`)))]);
      await waitUntil(async () => exited || (await temporaryFiles(out)).length > 0, 'the temporary file of the download');
      expect(exited).toBe(false);
      expect((await temporaryFiles(out)).length).toBeGreaterThan(0);

      pull.child.kill(signal);
      const timer = setTimeout(() => pull.child.kill('SIGKILL'), 20_000);
      const result = await pull.result;
      clearTimeout(timer);
      expect(result.signal, result.stderr).toBeNull();
      expect(result.code, result.stderr).toBe(exitCode);
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(stderrLines(result).filter((line) => line.startsWith('Error:'))).toHaveLength(1);
      // What arrived is kept for the next pull, under a name from the file and the digest; nothing else.
      const kept = `.big.bin.${digest.slice('sha256:'.length, 'sha256:'.length + 12)}.partial`;
      expect(await listDir(out)).toEqual([kept]);
      expect(await listDir(ws.tmp)).toEqual([]);

      await expectResumedPull(repository, out, digest);
    } finally {
      await proxy.close();
    }
  });

  it('a pull killed outright (SIGKILL) mid-transfer leaves its download under a name the next pull finds: it resumes with Range', async () => {
    const repository = uniqueRepository('e2e-sigkill');
    const digest = await pushSparseBig(repository);
    const hex = digest.slice('sha256:'.length, 'sha256:'.length + 12);

    const proxy = await startStallProxy(Number(registry().host.split(':')[1]), 8 * 1024 * 1024);
    try {
      const out = await ws.mkdir('sigkill-out');
      const pull = startStowage(['pull', `${proxy.host}/${repository}:v1`, '-o', out], { cwd: ws.dir, env: ws.env });
      await Promise.race([proxy.stalled, pull.result.then((result) => Promise.reject(new Error(`pull ended early: ${JSON.stringify(result)}`)))]);
      // Bytes reached the file: it is not empty.
      await waitUntil(async () => {
        const files = await temporaryFiles(out);
        return files.length > 0 && (await stat(files[0] ?? '')).size > 0;
      }, 'bytes in the download');
      pull.child.kill('SIGKILL');
      const result = await pull.result;
      expect(result.signal).toBe('SIGKILL');
      // No chance to rename anything: the download is under its in-progress name, with the dead process's id.
      const left = await listDir(out);
      expect(left).toHaveLength(1);
      expect(left[0]).toMatch(new RegExp(`^\\.big\\.bin\\.${hex}\\.${String(pull.child.pid)}-[0-9a-f]{8}\\.partial$`));

      await expectResumedPull(repository, out, digest);
    } finally {
      await proxy.close();
    }
  });

  it('interrupts a push mid-upload: exit 130, the directory archive is removed, no tag is pushed', async () => {
    const repository = uniqueRepository('e2e-sigint-push');
    const dir = await ws.mkdir('src', 'bigdir');
    // Incompressible, so the tar+gzip stays large: 16 MiB.
    await writeFile(`${dir}/random.bin`, patternBytes(16 * 1024 * 1024, 11));
    const proxy = await startStallProxy(Number(registry().host.split(':')[1]), 4 * 1024 * 1024, 'upload');
    try {
      const push = startStowage(['push', `${proxy.host}/${repository}:v1`, 'bigdir'], { cwd: src, env: ws.env });
      await Promise.race([proxy.stalled, push.result.then((result) => Promise.reject(new Error(`push ended early: ${JSON.stringify(result)}`)))]);
      // The archive is in the private TMPDIR while the upload hangs.
      expect((await listDir(ws.tmp)).length).toBeGreaterThan(0);

      push.child.kill('SIGINT');
      const timer = setTimeout(() => push.child.kill('SIGKILL'), 20_000);
      const result = await push.result;
      clearTimeout(timer);
      expect(result.signal, result.stderr).toBeNull();
      expect(result.code, result.stderr).toBe(130);
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toMatch(/^\s+at /m);
      expect(stderrLines(result).filter((line) => line.startsWith('Error:'))).toHaveLength(1);
      expect(await listDir(ws.tmp)).toEqual([]);
      const tag = await fetch(`${registry().url}/v2/${repository}/manifests/v1`, { method: 'HEAD' });
      expect(tag.status).toBe(404);
    } finally {
      await proxy.close();
    }
  });
});
