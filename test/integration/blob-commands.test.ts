/**
 * The blob commands (push, fetch, delete) and `repo ls` / `repo tags` run in process against a real
 * docker-registry and an OCI image layout: one-pass pushes from a file and from stdin, verified fetches to a
 * file (no temp file left) and to stdout, deletes with and without --force, catalog paging and namespaces.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import BlobDelete from '../../commands/blob/delete.js';
import BlobFetch from '../../commands/blob/fetch.js';
import BlobPush from '../../commands/blob/push.js';
import ManifestPush from '../../commands/manifest/push.js';
import RepoLs from '../../commands/repo/ls.js';
import RepoTags from '../../commands/repo/tags.js';
import { uniqueRepository, useRegistry } from '../helpers/registry-harness.js';
import { runCommand, type CommandResult } from './manifest-commands-run.js';

const registry = useRegistry();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stowage-blob-commands-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let counter = 0;
function freshPlace(kind: 'registry' | 'oci-layout'): { flags: string[]; ref: (digest?: string) => string } {
  counter++;
  const name = kind === 'registry' ? `${registry().host}/${uniqueRepository('blob-cmd')}` : join(dir, `layout-${counter}`);
  return { flags: kind === 'registry' ? [] : ['--oci-layout'], ref: (digest) => (digest === undefined ? name : `${name}@${digest}`) };
}

async function ok(result: Promise<CommandResult>, what: string): Promise<CommandResult> {
  const done = await result;
  if (done.code !== 0) throw new Error(`${what} exited ${done.code}: ${done.stderr}`);
  return done;
}

async function partials(): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((name) => name.endsWith('.partial'));
}

describe.each(['registry', 'oci-layout'] as const)('blob commands against a %s', (kind) => {
  it('push a file and stdin, fetch to stdout and to a file, byte for byte, with descriptors', async () => {
    const place = freshPlace(kind);
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const path = join(dir, `blob-${counter}.bin`);
    await writeFile(path, bytes);
    const digest = sha256(bytes);
    const pushed = await ok(runCommand(BlobPush, [...place.flags, place.ref(), path]), 'blob push');
    expect(pushed.text).toBe(`Pushed: [${kind}] ${place.ref()}\nDigest: ${digest}\n`);
    const described = await ok(runCommand(BlobPush, [...place.flags, place.ref(), path, '--descriptor', '--media-type', 'application/vnd.example.data']), 'blob push --descriptor');
    expect(described.text).toBe(JSON.stringify({ mediaType: 'application/vnd.example.data', digest, size: bytes.byteLength }));

    const toStdout = await ok(runCommand(BlobFetch, [...place.flags, place.ref(digest), '-o', '-']), 'blob fetch -o -');
    expect(toStdout.stdout.equals(bytes)).toBe(true);
    const out = join(dir, `fetched-${counter}.bin`);
    const toFile = await ok(runCommand(BlobFetch, [...place.flags, place.ref(digest), '-o', out, '--descriptor', '--pretty']), 'blob fetch -o file');
    expect(JSON.parse(toFile.text)).toEqual({ mediaType: 'application/octet-stream', digest, size: bytes.byteLength });
    expect(toFile.text.endsWith('}\n')).toBe(true);
    expect((await readFile(out)).equals(bytes)).toBe(true);
    expect(await partials()).toEqual([]);

    // From stdin: the digest is computed while the bytes are stored; --size is required and checked.
    const input = Buffer.from(`from stdin ${kind}\n`);
    const fromStdin = await ok(runCommand(BlobPush, [...place.flags, place.ref(), '-', '--size', String(input.byteLength)], input), 'blob push -');
    expect(fromStdin.text).toBe(`Pushed: [${kind}] ${place.ref()}\nDigest: ${sha256(input)}\n`);
    expect((await ok(runCommand(BlobFetch, [...place.flags, place.ref(sha256(input)), '-o', '-']), 'fetch stdin blob')).stdout.equals(input)).toBe(true);
    const noSize = await runCommand(BlobPush, [...place.flags, place.ref(), '-'], input);
    expect(noSize.code).toBe(2);
    expect(noSize.stderr).toMatch(/--size must be given/);
    const shortSize = await runCommand(BlobPush, [...place.flags, place.ref(), '-', '--size', String(input.byteLength - 1)], input);
    expect(shortSize.code).toBe(1);
    const withDigest = await ok(runCommand(BlobPush, [...place.flags, place.ref(sha256('exact')), '-', '--size', '5', '--descriptor'], Buffer.from('exact')), 'stdin with digest');
    expect(JSON.parse(withDigest.text)).toMatchObject({ digest: sha256('exact'), size: 5 });
    expect(await partials()).toEqual([]);
  });

  it('push refuses content that does not match the digest in the reference; fetch fails on a missing blob or a tag', async () => {
    const place = freshPlace(kind);
    const path = join(dir, `wrong-${counter}.txt`);
    await writeFile(path, 'actual content');
    const wrong = sha256('other content');
    const refused = await runCommand(BlobPush, [...place.flags, place.ref(wrong), path]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^Error: /);
    const missing = await runCommand(BlobFetch, [...place.flags, place.ref(wrong), '-o', '-']);
    expect(missing.code).toBe(1);
    expect(missing.stdout.byteLength).toBe(0);
    const out = join(dir, `never-${counter}.bin`);
    expect((await runCommand(BlobFetch, [...place.flags, place.ref(wrong), '-o', out])).code).toBe(1);
    await expect(readFile(out)).rejects.toThrow();
    const tag = await runCommand(BlobFetch, [...place.flags, `${place.ref()}:v1`, '-o', '-']);
    expect(tag.code).toBe(2);
    const neither = await runCommand(BlobFetch, [...place.flags, place.ref(wrong)]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/either --output or --descriptor/);
  });

  it('delete refuses without --force where it cannot ask, deletes with it, and reports a missing blob', async () => {
    const place = freshPlace(kind);
    const path = join(dir, `delete-${counter}.txt`);
    await writeFile(path, `to delete ${kind}`);
    const digest = sha256(`to delete ${kind}`);
    await ok(runCommand(BlobPush, [...place.flags, place.ref(), path]), 'blob push');
    const refused = await runCommand(BlobDelete, [...place.flags, place.ref(digest)]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Hint: pass -f/--force');
    expect((await runCommand(BlobFetch, [...place.flags, place.ref(digest), '-o', '-'])).code).toBe(0);
    const deleted = await ok(runCommand(BlobDelete, [...place.flags, place.ref(digest), '-f']), 'blob delete -f');
    expect(deleted.text).toBe(`Deleted [${kind}] ${place.ref(digest)}\n`);
    expect((await runCommand(BlobFetch, [...place.flags, place.ref(digest), '-o', '-'])).code).toBe(1);
    const missing = await ok(runCommand(BlobDelete, [...place.flags, place.ref(digest), '-f']), 'blob delete missing -f');
    expect(missing.text).toBe(`Missing ${place.ref(digest)}\n`);
    expect((await runCommand(BlobDelete, [...place.flags, place.ref(digest)])).code).toBe(1);
  });
});

describe('repo ls and repo tags', () => {
  it('lists the catalog, under a namespace, after --last, as text and JSON', async () => {
    const prefix = `ns${Math.random().toString(36).slice(2, 8)}`;
    const names = [`${prefix}/alpha`, `${prefix}/beta`, `${prefix}/gamma/deep`, `${prefix}x`];
    const path = join(dir, 'repo-ls.txt');
    await writeFile(path, 'x');
    for (const name of names) await ok(runCommand(BlobPush, [`${registry().host}/${name}`, path]), `blob push ${name}`);
    const all = await ok(runCommand(RepoLs, [registry().host]), 'repo ls');
    const listed = all.text.split('\n').filter((line) => line !== '');
    for (const name of names) expect(listed).toContain(name);
    expect(listed).toEqual([...listed].sort());

    const namespaced = await ok(runCommand(RepoLs, [`${registry().host}/${prefix}`]), 'repo ls namespace');
    expect(namespaced.text).toBe('alpha\nbeta\ngamma/deep\n');
    const json = JSON.parse((await ok(runCommand(RepoLs, [`${registry().host}/${prefix}`, '--format', 'json']), 'repo ls json')).text) as unknown;
    expect(json).toEqual({ registry: registry().host, repositories: [`${prefix}/alpha`, `${prefix}/beta`, `${prefix}/gamma/deep`] });
    const after = await ok(runCommand(RepoLs, [`${registry().host}/${prefix}`, '--last', `${prefix}/alpha`]), 'repo ls --last');
    expect(after.text).toBe('beta\ngamma/deep\n');
    const layout = await runCommand(RepoLs, [registry().host, '--oci-layout']);
    expect(layout.code).toBe(2);
  });

  it('lists tags after --last and without digest tags, from a registry and a layout', async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 }, layers: [] }));
    const path = join(dir, 'tags-manifest.json');
    await writeFile(path, manifest);
    const config = join(dir, 'empty.json');
    await writeFile(config, '{}');
    const digestTag = `sha256-${'a'.repeat(64)}`;
    for (const [flags, name] of [[[], `${registry().host}/${uniqueRepository('tags')}`], [['--oci-layout'], join(dir, 'tags-layout')]] as const) {
      await ok(runCommand(BlobPush, [...flags, name, config]), 'blob push config');
      await ok(runCommand(ManifestPush, [...flags, `${name}:v2,v1,latest,${digestTag}`, path]), 'manifest push');
      expect((await ok(runCommand(RepoTags, [...flags, name]), 'repo tags')).text).toBe(`latest\n${digestTag}\nv1\nv2\n`);
      expect((await ok(runCommand(RepoTags, [...flags, name, '--exclude-digest-tags', '--last', 'latest']), 'repo tags --last')).text).toBe('v1\nv2\n');
      expect(JSON.parse((await ok(runCommand(RepoTags, [...flags, name, '--format', 'json', '--exclude-digest-tags']), 'repo tags json')).text)).toEqual({ tags: ['latest', 'v1', 'v2'] });
      // With a tag in the reference: only the tags of that manifest.
      const other = Buffer.from(manifest.toString().replace('"layers":[]', '"layers":[],"annotations":{"k":"v"}'));
      await writeFile(`${path}.other`, other);
      await ok(runCommand(ManifestPush, [...flags, `${name}:other`, `${path}.other`]), 'manifest push other');
      expect((await ok(runCommand(RepoTags, [...flags, name]), 'repo tags all')).text).toBe(`latest\nother\n${digestTag}\nv1\nv2\n`);
      const same = await ok(runCommand(RepoTags, [...flags, `${name}:v1`, '--exclude-digest-tags']), 'repo tags of v1');
      expect(same.text).toBe('latest\nv1\nv2\n');
      expect(same.stderr).toMatch(/^Warning: listing the tags that point to sha256:/);
    }
  });
});
