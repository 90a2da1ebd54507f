/**
 * stowage and ORAS 1.3 read each other's artifacts, byte for byte: what one pushes the other pulls, against
 * a real docker-registry and through OCI image layouts; both resolve to the same digest; both pack the same
 * files into the same manifest bytes; stowage's tags show in `oras repo tags`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, oras as runOras, stowage as runStowage, type RunResult } from './helpers/cli.js';
import { makeFixture, parseJsonOutput, readLayoutManifest, sha256, snapshotTree, temporaryFiles, unicodeName, workspace, type Fixture, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();
const created = 'org.opencontainers.image.created=2024-01-01T00:00:00Z';

let ws: Workspace;
let fixture: Fixture;
let expectedTree: Record<string, string>;
let counter = 0;

beforeAll(async () => {
  ws = await workspace('oras');
  fixture = await makeFixture(await ws.mkdir('src'), 3);
  expectedTree = await snapshotTree(fixture.dir);
});

afterAll(async () => {
  await ws.cleanup();
});

function stowage(args: string[], cwd = ws.dir): Promise<RunResult> {
  return runStowage(args, { cwd, env: ws.env });
}

function oras(args: string[], cwd = ws.dir): Promise<RunResult> {
  return runOras(args, { cwd, env: ws.env });
}

function fresh(prefix: string): string {
  counter++;
  return ws.path(`${prefix}-${counter}`);
}

/** The digest ORAS prints after `Digest: ` (push, pull). */
function printedDigest(result: RunResult): string {
  const digest = /^Digest: (sha256:[a-f0-9]{64})$/m.exec(result.stdout)?.[1];
  if (digest === undefined) throw new Error(`no digest in:\n${result.stdout}`);
  return digest;
}

const everything = (): string[] => [...fixture.files, fixture.directory];

describe('against a registry', () => {
  it('oras pulls what stowage pushed, byte for byte, and both resolve it to the same digest', async () => {
    const name = `${registry().host}/${uniqueRepository('interop-s2o')}`;
    const pushed = parseJsonOutput(ok(await stowage(['push', `${name}:v1`, ...everything(), '--format', 'json'], fixture.dir), 'stowage push')) as { digest: string };
    const out = fresh('oras-out');
    const pulled = ok(await oras(['pull', '--plain-http', `${name}:v1`, '-o', out]), 'oras pull');
    expect(printedDigest(pulled)).toBe(pushed.digest);
    expect(await snapshotTree(out)).toEqual(expectedTree);

    const [ours, theirs] = await Promise.all([stowage(['resolve', `${name}:v1`]), oras(['resolve', '--plain-http', `${name}:v1`])]);
    expect(ok(ours, 'stowage resolve').stdout).toBe(`${pushed.digest}\n`);
    expect(ok(theirs, 'oras resolve').stdout).toBe(`${pushed.digest}\n`);
  });

  it('stowage pulls what oras pushed, byte for byte, and both resolve it to the same digest', async () => {
    const name = `${registry().host}/${uniqueRepository('interop-o2s')}`;
    const pushed = ok(await oras(['push', '--plain-http', `${name}:v1`, ...everything()], fixture.dir), 'oras push');
    const digest = printedDigest(pushed);
    const out = fresh('stowage-out');
    const pulled = parseJsonOutput(ok(await stowage(['pull', `${name}:v1`, '-o', out, '--format', 'json']), 'stowage pull')) as { reference: string; files: unknown[] };
    expect(pulled.reference).toBe(`${name}@${digest}`);
    expect(pulled.files).toHaveLength(everything().length);
    expect(await snapshotTree(out)).toEqual(expectedTree);
    expect(await temporaryFiles(out)).toEqual([]);

    const [ours, theirs] = await Promise.all([stowage(['resolve', `${name}:v1`]), oras(['resolve', '--plain-http', `${name}:v1`])]);
    expect(ok(ours, 'stowage resolve').stdout).toBe(`${digest}\n`);
    expect(ok(theirs, 'oras resolve').stdout).toBe(`${digest}\n`);
  });

  it('packs the same files into the same manifest digest as oras, given the same created time', async () => {
    // Files only: a directory's tar keeps mtimes and other header fields whose bytes differ between tools.
    const cases: string[][] = [
      fixture.files,
      [
        'hello.txt:text/plain',
        unicodeName,
        '--artifact-type',
        'application/vnd.example.thing.v1',
        '-a',
        'org.example.html=<b>&</b> \u2028',
        '-a',
        'org.example.a=1',
      ],
    ];
    for (const [index, args] of cases.entries()) {
      const repository = uniqueRepository(`interop-same-${index}`);
      const name = `${registry().host}/${repository}`;
      const ours = parseJsonOutput(ok(await stowage(['push', `${name}:stowage`, ...args, '--annotation', created, '--format', 'json'], fixture.dir), 'stowage push')) as {
        digest: string;
      };
      const theirs = ok(await oras(['push', '--plain-http', `${name}:oras`, ...args, '--annotation', created], fixture.dir), 'oras push');
      expect(ours.digest, `case ${index}: ${args.join(' ')}`).toBe(printedDigest(theirs));
    }
  });

  it('stowage tags show in oras repo tags', async () => {
    const name = `${registry().host}/${uniqueRepository('interop-tags')}`;
    ok(await stowage(['push', `${name}:v1,v2`, 'hello.txt'], fixture.dir), 'stowage push');
    ok(await stowage(['tag', `${name}:v1`, 'v3', 'latest']), 'stowage tag');
    const listed = ok(await oras(['repo', 'tags', '--plain-http', name]), 'oras repo tags');
    expect(listed.stdout.trimEnd().split('\n').sort()).toEqual(['latest', 'v1', 'v2', 'v3']);
  });
});

describe('through OCI image layouts', () => {
  it('oras pulls from a layout stowage wrote, and stowage pulls from a layout oras wrote, byte for byte', async () => {
    const ourLayout = fresh('stowage-layout');
    const pushed = parseJsonOutput(ok(await stowage(['push', '--oci-layout', `${ourLayout}:v1,v2`, ...everything(), '--format', 'json'], fixture.dir), 'stowage push')) as {
      digest: string;
    };
    const orasOut = fresh('oras-layout-out');
    expect(printedDigest(ok(await oras(['pull', '--oci-layout', `${ourLayout}:v2`, '-o', orasOut]), 'oras pull'))).toBe(pushed.digest);
    expect(await snapshotTree(orasOut)).toEqual(expectedTree);
    expect(ok(await oras(['resolve', '--oci-layout', `${ourLayout}:v1`]), 'oras resolve').stdout).toBe(`${pushed.digest}\n`);
    expect(ok(await oras(['repo', 'tags', '--oci-layout', ourLayout]), 'oras repo tags').stdout.trimEnd().split('\n').sort()).toEqual(['v1', 'v2']);

    const theirLayout = fresh('oras-layout');
    const digest = printedDigest(ok(await oras(['push', '--oci-layout', `${theirLayout}:v1`, ...everything()], fixture.dir), 'oras push'));
    const out = fresh('stowage-layout-out');
    ok(await stowage(['pull', '--oci-layout', `${theirLayout}:v1`, '-o', out]), 'stowage pull');
    expect(await snapshotTree(out)).toEqual(expectedTree);
    expect(ok(await stowage(['resolve', '--oci-layout', `${theirLayout}:v1`]), 'stowage resolve').stdout).toBe(`${digest}\n`);
    // stowage reads the layout oras wrote, and tags in it in a way oras reads back.
    ok(await stowage(['tag', '--oci-layout', `${theirLayout}:v1`, 'from-stowage']), 'stowage tag');
    expect(ok(await oras(['resolve', '--oci-layout', `${theirLayout}:from-stowage`]), 'oras resolve').stdout).toBe(`${digest}\n`);
  });

  it('packs the same files into the same manifest bytes as oras in a layout', async () => {
    const ourLayout = fresh('same-stowage');
    const theirLayout = fresh('same-oras');
    ok(await stowage(['push', '--oci-layout', `${ourLayout}:v1`, ...fixture.files, '--annotation', created], fixture.dir), 'stowage push');
    ok(await oras(['push', '--oci-layout', `${theirLayout}:v1`, ...fixture.files, '--annotation', created], fixture.dir), 'oras push');
    const ours = await readLayoutManifest(ourLayout, 'v1');
    const theirs = await readLayoutManifest(theirLayout, 'v1');
    expect(ours.bytes.toString('utf8')).toBe(theirs.bytes.toString('utf8'));
    expect(ours.digest).toBe(theirs.digest);
    expect(sha256(ours.bytes)).toBe(ours.digest);
  });
});
