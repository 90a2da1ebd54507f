/**
 * The manifest commands (fetch, fetch-config, push, delete, index create, index update) run in process
 * against a real docker-registry and an OCI image layout: outputs as ORAS prints them, byte-exact content,
 * and the error paths (missing manifest, wrong media type, oversize manifest, unknown platform, delete
 * without --force where nobody can be asked).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ManifestDelete from '../../commands/manifest/delete.js';
import ManifestFetchConfig from '../../commands/manifest/fetch-config.js';
import ManifestFetch from '../../commands/manifest/fetch.js';
import ManifestIndexCreate from '../../commands/manifest/index/create.js';
import ManifestIndexUpdate from '../../commands/manifest/index/update.js';
import ManifestPush from '../../commands/manifest/push.js';
import RepoTags from '../../commands/repo/tags.js';
import BlobPush from '../../commands/blob/push.js';
import { uniqueRepository, useRegistry } from '../helpers/registry-harness.js';
import { runCommand } from './manifest-commands-run.js';

const registry = useRegistry();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stowage-manifest-commands-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const emptyConfig = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 };

/** Where a test's content lives: a fresh registry repository or a fresh OCI layout. */
interface Place {
  kind: 'registry' | 'oci-layout';
  /** `<name>:<tag>` or `<name>@<digest>` (or the name alone). */
  ref(selector?: string): string;
  /** Extra argv (`--oci-layout`). */
  flags: string[];
}

let counter = 0;
function freshPlace(kind: Place['kind']): Place {
  counter++;
  const name = kind === 'registry' ? `${registry().host}/${uniqueRepository('manifest-cmd')}` : join(dir, `layout-${counter}`);
  return {
    kind,
    flags: kind === 'registry' ? [] : ['--oci-layout'],
    ref: (selector) => (selector === undefined ? name : `${name}${selector.includes(':') ? '@' : ':'}${selector}`),
  };
}

async function file(name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, `${counter}-${name}`);
  await writeFile(path, content);
  return path;
}

async function ok(result: Promise<Awaited<ReturnType<typeof runCommand>>>, what: string): Promise<Awaited<ReturnType<typeof runCommand>>> {
  const done = await result;
  if (done.code !== 0) throw new Error(`${what} exited ${done.code}: ${done.stderr}`);
  return done;
}

/** Pushes blobs (config, layer) with `blob push` and returns an image manifest's bytes that uses them. */
async function seedImage(place: Place, platform?: { os: string; architecture: string; variant?: string }): Promise<Buffer> {
  let config: { mediaType: string; digest: string; size: number } = emptyConfig;
  const configBytes = platform === undefined ? '{}' : JSON.stringify(platform);
  const configPath = await file('config.json', configBytes);
  if (platform !== undefined) config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: Buffer.byteLength(configBytes) };
  await ok(runCommand(BlobPush, [...place.flags, place.ref(), configPath]), 'blob push config');
  const layer = `layer of ${JSON.stringify(platform ?? 'artifact')}`;
  await ok(runCommand(BlobPush, [...place.flags, place.ref(), await file('layer.txt', layer)]), 'blob push layer');
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...(platform === undefined ? { artifactType: 'application/vnd.example.thing' } : {}),
      config,
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: Buffer.byteLength(layer) }],
    }),
  );
}

describe.each(['registry', 'oci-layout'] as const)('manifest commands against a %s', (kind) => {
  it('push stores the bytes as given under every tag; fetch gives them back byte for byte, as --descriptor, --pretty, JSON and a file', async () => {
    const place = freshPlace(kind);
    // Unusual spacing: the digest must be over these bytes, not over re-serialised JSON.
    const bytes = Buffer.from((await seedImage(place)).toString().replace('{"schemaVersion":2', '{ "schemaVersion" : 2'));
    const manifest = await file('manifest.json', bytes);
    const digest = sha256(bytes);
    const pushed = await ok(runCommand(ManifestPush, [...place.flags, place.ref('v1,v2'), manifest]), 'manifest push');
    const [first] = place.kind === 'registry' ? ['v1'] : ['v1'];
    expect(pushed.text).toBe(`Pushed: [${kind}] ${place.ref(first)}\nTagged v2\nDigest: ${digest}\n`);

    const raw = await ok(runCommand(ManifestFetch, [...place.flags, place.ref('v2')]), 'manifest fetch');
    expect(raw.stdout.equals(bytes)).toBe(true);
    const byDigest = await ok(runCommand(ManifestFetch, [...place.flags, place.ref(digest)]), 'manifest fetch by digest');
    expect(byDigest.stdout.equals(bytes)).toBe(true);

    const descriptor = await ok(runCommand(ManifestFetch, [...place.flags, place.ref(digest), '--descriptor']), 'manifest fetch --descriptor');
    expect(descriptor.text).toBe(JSON.stringify({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: bytes.byteLength }));
    const pretty = await ok(runCommand(ManifestFetch, [...place.flags, place.ref(digest), '--descriptor', '--pretty']), 'manifest fetch --descriptor --pretty');
    expect(pretty.text).toBe(`${JSON.stringify(JSON.parse(descriptor.text), null, 2)}\n`);
    const indented = await ok(runCommand(ManifestFetch, [...place.flags, place.ref('v1'), '--pretty']), 'manifest fetch --pretty');
    expect(indented.text).toBe(`${JSON.stringify(JSON.parse(bytes.toString()), null, 2)}\n`);

    const json = JSON.parse((await ok(runCommand(ManifestFetch, [...place.flags, place.ref(digest), '--format', 'json']), 'manifest fetch --format json')).text) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['reference', 'mediaType', 'digest', 'size', 'content']);
    expect(json.reference).toBe(place.ref(digest));
    expect(json.content).toEqual(JSON.parse(bytes.toString()));
    expect(Object.keys(json.content as object)).toEqual(Object.keys(JSON.parse(bytes.toString()) as object).sort());

    const out = join(dir, `${kind}-fetched.json`);
    const written = await ok(runCommand(ManifestFetch, [...place.flags, place.ref('v1'), '-o', out]), 'manifest fetch -o');
    expect(written.text).toBe('');
    expect((await readFile(out)).equals(bytes)).toBe(true);
    expect((await readdir(dir)).filter((name) => name.endsWith('.partial'))).toEqual([]);

    const tags = await ok(runCommand(RepoTags, [...place.flags, place.ref()]), 'repo tags');
    expect(tags.text).toBe('v1\nv2\n');
  });

  it('push checks JSON, media type, size and digest before sending anything', async () => {
    const place = freshPlace(kind);
    const bytes = await seedImage(place);
    const withoutType = Buffer.from(bytes.toString().replace('"mediaType":"application/vnd.oci.image.manifest.v1+json",', ''));
    const noType = await runCommand(ManifestPush, [...place.flags, place.ref('x'), await file('no-type.json', withoutType)]);
    expect(noType.code).toBe(1);
    expect(noType.stderr).toMatch(/no media type: give --media-type/);
    // The same bytes with --media-type are fine, and the digest is over them.
    const typed = await ok(runCommand(ManifestPush, [...place.flags, place.ref('typed'), await file('typed.json', withoutType), '--media-type', 'application/vnd.oci.image.manifest.v1+json', '--descriptor']), 'push --media-type');
    expect(JSON.parse(typed.text)).toEqual({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(withoutType), size: withoutType.byteLength });

    const manifest = await file('manifest.json', bytes);
    const wrongType = await runCommand(ManifestPush, [...place.flags, place.ref('wrong'), manifest, '--media-type', 'application/vnd.oci.image.index.v1+json']);
    expect(wrongType.code).toBe(1);
    expect(wrongType.stderr).toMatch(/says its media type is application\/vnd\.oci\.image\.manifest\.v1\+json, not application\/vnd\.oci\.image\.index\.v1\+json/);

    const oversize = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    bytes.copy(oversize);
    const tooLarge = await runCommand(ManifestPush, [...place.flags, place.ref('big'), await file('big.json', oversize)]);
    expect(tooLarge.code).toBe(1);
    expect(tooLarge.stderr).toMatch(/over the 4194304-byte limit/);
    const tooLargeStdin = await runCommand(ManifestPush, [...place.flags, place.ref('big'), '-'], oversize);
    expect(tooLargeStdin.code).toBe(1);
    expect(tooLargeStdin.stderr).toMatch(/larger than the 4194304-byte limit/);

    const notJson = await runCommand(ManifestPush, [...place.flags, place.ref('bad'), await file('bad.json', 'not json')]);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toMatch(/not valid JSON/);
    const wrongDigest = await runCommand(ManifestPush, [...place.flags, place.ref(sha256('other')), manifest]);
    expect(wrongDigest.code).toBe(1);
    expect(wrongDigest.stderr).toMatch(/the manifest's digest is sha256:/);

    for (const tag of ['wrong', 'big', 'bad']) {
      const missing = await runCommand(ManifestFetch, [...place.flags, place.ref(tag)]);
      expect(missing.code).toBe(1);
    }
    const tags = await ok(runCommand(RepoTags, [...place.flags, place.ref()]), 'repo tags');
    expect(tags.text).toBe('typed\n');

    const fromStdin = await ok(runCommand(ManifestPush, [...place.flags, place.ref('stdin'), '-'], bytes), 'push from stdin');
    expect(fromStdin.text).toContain(`Digest: ${sha256(bytes)}\n`);
  });

  it('fetch fails on a missing manifest and on a media type not accepted', async () => {
    const place = freshPlace(kind);
    const bytes = await seedImage(place);
    await ok(runCommand(ManifestPush, [...place.flags, place.ref('v1'), await file('m.json', bytes)]), 'manifest push');
    const missing = await runCommand(ManifestFetch, [...place.flags, place.ref('nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stdout.byteLength).toBe(0);
    expect(missing.stderr).toMatch(/^Error: .*nope/);
    const accepted = await ok(runCommand(ManifestFetch, [...place.flags, place.ref('v1'), '--media-type', 'application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json']), 'accepted');
    expect(accepted.stdout.equals(bytes)).toBe(true);
    const refused = await runCommand(ManifestFetch, [...place.flags, place.ref('v1'), '--media-type', 'application/vnd.docker.distribution.manifest.v2+json']);
    expect(refused.code).toBe(1);
    expect(refused.stdout.byteLength).toBe(0);
    const both = await runCommand(ManifestFetch, [...place.flags, place.ref('v1'), '--format', 'json', '--descriptor']);
    expect(both.code).toBe(2);
    const noTag = await runCommand(ManifestFetch, [...place.flags, place.ref()]);
    expect(noTag.code).toBe(2);
  });

  it('index create records platforms; fetch and fetch-config pick a platform; unknown platforms fail; index update edits it', async () => {
    const place = freshPlace(kind);
    const amd = await seedImage(place, { os: 'linux', architecture: 'amd64' });
    const arm = await seedImage(place, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const art = await seedImage(place);
    await ok(runCommand(ManifestPush, [...place.flags, place.ref('amd'), await file('amd.json', amd)]), 'push amd');
    await ok(runCommand(ManifestPush, [...place.flags, place.ref('arm'), await file('arm.json', arm)]), 'push arm');
    await ok(runCommand(ManifestPush, [...place.flags, place.ref('art'), await file('art.json', art)]), 'push art');

    const created = await ok(runCommand(ManifestIndexCreate, [...place.flags, place.ref('idx,idx2'), 'amd', sha256(arm), '-a', 'k=v']), 'index create');
    const index = (await ok(runCommand(ManifestFetch, [...place.flags, place.ref('idx')]), 'fetch index')).stdout;
    expect(created.text).toBe(`Pushed [${kind}] ${place.ref('idx')}\nTagged idx2\nDigest: ${sha256(index)}\n`);
    // Field order and content as ORAS 1.3 writes an index.
    expect(index.toString()).toBe(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(amd), size: amd.byteLength, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(arm), size: arm.byteLength, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
        ],
        annotations: { k: 'v' },
      }),
    );
    const printed = await ok(runCommand(ManifestIndexCreate, [...place.flags, place.ref(), 'amd', sha256(arm), '-a', 'k=v', '-o', '-']), 'index create -o -');
    expect(printed.stdout.equals(index)).toBe(true);

    const armFetched = await ok(runCommand(ManifestFetch, [...place.flags, place.ref('idx'), '--platform', 'linux/arm64']), 'fetch --platform');
    expect(armFetched.stdout.equals(arm)).toBe(true);
    const unknown = await runCommand(ManifestFetch, [...place.flags, place.ref('idx'), '--platform', 'linux/s390x']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no manifest for platform linux\/s390x/);
    const badPlatform = await runCommand(ManifestFetch, [...place.flags, place.ref('idx'), '--platform', 'linux//']);
    expect(badPlatform.code).toBe(2);

    const config = await ok(runCommand(ManifestFetchConfig, [...place.flags, place.ref('idx'), '--platform', 'linux/arm64/v8']), 'fetch-config --platform');
    expect(config.text).toBe(JSON.stringify({ os: 'linux', architecture: 'arm64', variant: 'v8' }));
    const configDescriptor = await ok(runCommand(ManifestFetchConfig, [...place.flags, place.ref('art'), '--descriptor']), 'fetch-config --descriptor');
    expect(configDescriptor.text).toBe(JSON.stringify(emptyConfig));
    const ofIndex = await runCommand(ManifestFetchConfig, [...place.flags, place.ref('idx')]);
    expect(ofIndex.code).toBe(1);
    expect(ofIndex.stderr).toMatch(/an index has no config/);

    const updated = await ok(runCommand(ManifestIndexUpdate, [...place.flags, place.ref('idx'), '--remove', sha256(amd), '--add', 'art', '--tag', 'u1', '--artifact-type', 'application/vnd.example.set']), 'index update');
    const newIndex = (await ok(runCommand(ManifestFetch, [...place.flags, place.ref('u1')]), 'fetch updated')).stdout;
    expect(updated.text).toBe(`Pushed [${kind}] ${place.ref('idx')}\nTagged u1\nDigest: ${sha256(newIndex)}\n`);
    const parsed = JSON.parse(newIndex.toString()) as { artifactType: string; manifests: { digest: string; artifactType?: string }[]; annotations: Record<string, string> };
    expect(parsed.artifactType).toBe('application/vnd.example.set');
    expect(parsed.manifests.map((entry) => entry.digest)).toEqual([sha256(arm), sha256(art)]);
    expect(parsed.manifests[1]?.artifactType).toBe('application/vnd.example.thing');
    expect(parsed.annotations).toEqual({ k: 'v' });
    // idx2 still names the old index.
    expect((await ok(runCommand(ManifestFetch, [...place.flags, place.ref('idx2')]), 'fetch idx2')).stdout.equals(index)).toBe(true);

    const notMember = await runCommand(ManifestIndexUpdate, [...place.flags, place.ref('u1'), '--remove', sha256(amd)]);
    expect(notMember.code).toBe(1);
    expect(notMember.stderr).toMatch(/does not exist in the index/);
    const notIndex = await runCommand(ManifestIndexUpdate, [...place.flags, place.ref('amd'), '--add', 'arm']);
    expect(notIndex.code).toBe(1);
    expect(notIndex.stderr).toMatch(/not an index/);
    const merged = await ok(runCommand(ManifestIndexUpdate, [...place.flags, place.ref('u1'), '--merge', 'idx2', '-o', '-']), 'index update --merge -o -');
    expect((JSON.parse(merged.text) as { manifests: { digest: string }[] }).manifests.map((entry) => entry.digest)).toEqual([sha256(arm), sha256(art), sha256(amd), sha256(arm)]);
    const missingSource = await runCommand(ManifestIndexCreate, [...place.flags, place.ref('x'), 'nope']);
    expect(missingSource.code).toBe(1);
    expect(missingSource.stderr).toMatch(/could not find the manifest nope/);
  });

  it('delete refuses without --force where it cannot ask, deletes by tag with it, and reports a missing manifest', async () => {
    const place = freshPlace(kind);
    const bytes = await seedImage(place);
    const manifest = await file('m.json', bytes);
    await ok(runCommand(ManifestPush, [...place.flags, place.ref('v1,v2'), manifest]), 'manifest push');
    const refused = await runCommand(ManifestDelete, [...place.flags, place.ref('v1')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/confirmation required/);
    expect(refused.stderr).toContain('Hint: pass -f/--force');
    expect((await runCommand(ManifestFetch, [...place.flags, place.ref('v1')])).code).toBe(0);

    const deleted = await ok(runCommand(ManifestDelete, [...place.flags, place.ref('v1'), '-f']), 'manifest delete -f');
    expect(deleted.text).toBe(`Deleted [${kind}] ${place.ref('v1')}\n`);
    expect((await runCommand(ManifestFetch, [...place.flags, place.ref('v1')])).code).toBe(1);
    expect((await runCommand(ManifestFetch, [...place.flags, place.ref(sha256(bytes))])).code).toBe(1);
    // Deleting by digest takes every tag of it along (docker-registry; the layout drops all its entries).
    expect((await runCommand(ManifestFetch, [...place.flags, place.ref('v2')])).code).toBe(1);

    const missing = await ok(runCommand(ManifestDelete, [...place.flags, place.ref('v1'), '--force']), 'delete missing -f');
    expect(missing.text).toBe(`Missing ${place.ref('v1')}\n`);
    const missingNoForce = await runCommand(ManifestDelete, [...place.flags, place.ref('v1')]);
    expect(missingNoForce.code).toBe(1);
    expect(missingNoForce.stderr).toMatch(/does not exist/);

    await ok(runCommand(ManifestPush, [...place.flags, place.ref('v3'), manifest]), 'manifest push again');
    const described = await ok(runCommand(ManifestDelete, [...place.flags, place.ref(sha256(bytes)), '-f', '--descriptor']), 'delete --descriptor');
    expect(JSON.parse(described.text)).toEqual({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bytes), size: bytes.byteLength });
  });
});
