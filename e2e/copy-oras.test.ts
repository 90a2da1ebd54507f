/**
 * `stowage cp` and ORAS: an artifact `oras push`ed with a chain of `oras attach`ed referrers, copied by
 * `stowage cp -r` to a second registry and to an OCI layout, is pulled there by `oras pull` byte for byte,
 * and `oras discover` shows the same referrer tree as at the source.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, runIn, type RunResult } from './helpers/cli.js';
import { parseJsonOutput, snapshotTree, workspace, type Workspace } from './helpers/fixtures.js';

const first = useRegistry();
const second = useRegistry();

let ws: Workspace;

beforeAll(async () => {
  ws = await workspace('copy-oras');
  await writeFile(ws.path('hello.txt'), 'hello from oras\n');
  await mkdir(ws.path('docs', 'deep'), { recursive: true });
  await writeFile(ws.path('docs', 'readme.md'), '# docs\n');
  await writeFile(ws.path('docs', 'deep', 'data.bin'), Buffer.alloc(70_000, 3));
  await writeFile(ws.path('sbom.json'), '{"spdxVersion":"SPDX-2.3"}\n');
  await writeFile(ws.path('sig.bin'), 'signature\n');
});

afterAll(async () => {
  await ws.cleanup();
});

const { stowage, oras } = runIn(() => ws);

function printedDigest(result: RunResult): string {
  const digest = /^Digest: (sha256:[a-f0-9]{64})$/m.exec(result.stdout)?.[1];
  if (digest === undefined) throw new Error(`no digest in:\n${result.stdout}`);
  return digest;
}

interface Node {
  reference: string;
  digest: string;
  referrers: Node[];
}

/** An `oras discover --format json` document with `name` replaced by `NAME` in every reference. */
function withoutName(document: Node, name: string): unknown {
  return JSON.parse(JSON.stringify(document).split(name).join('NAME')) as unknown;
}

describe('stowage cp of an oras-pushed artifact with referrers', () => {
  it('is pulled by oras pull from the other registry and its referrers are discovered by oras discover', async () => {
    const source = `${first().host}/${uniqueRepository('cp-oras-src')}`;
    const destination = `${second().host}/${uniqueRepository('cp-oras-dst')}`;
    const subject = printedDigest(ok(await oras(['push', '--plain-http', `${source}:v1`, 'hello.txt', 'docs']), 'oras push'));
    const sbom = printedDigest(ok(await oras(['attach', '--plain-http', `${source}:v1`, '--artifact-type', 'application/spdx+json', 'sbom.json']), 'oras attach sbom'));
    const signature = printedDigest(
      ok(await oras(['attach', '--plain-http', `${source}@${sbom}`, '--artifact-type', 'application/vnd.example.signature', 'sig.bin']), 'oras attach signature'),
    );

    const copied = ok(await stowage(['cp', '-r', `${source}:v1`, `${destination}:v1,stable`]), 'stowage cp -r');
    expect(copied.stdout).toBe(`Copied [registry] ${source}:v1 => [registry] ${destination}:v1\nTagged stable\nDigest: ${subject}\n`);

    const original = await ws.mkdir('pulled-source');
    const pulled = await ws.mkdir('pulled-destination');
    ok(await oras(['pull', '--plain-http', `${source}:v1`, '-o', original]), 'oras pull source');
    ok(await oras(['pull', '--plain-http', `${destination}:stable`, '-o', pulled]), 'oras pull destination');
    const files = await snapshotTree(pulled);
    expect(Object.keys(files).sort()).toEqual(['docs', 'docs/deep', 'docs/deep/data.bin', 'docs/readme.md', 'hello.txt']);
    expect(files).toEqual(await snapshotTree(original));
    // The referrers' files too.
    const sbomOut = await ws.mkdir('pulled-sbom');
    ok(await oras(['pull', '--plain-http', `${destination}@${sbom}`, '-o', sbomOut]), 'oras pull sbom');
    expect(Object.keys(await snapshotTree(sbomOut))).toEqual(['sbom.json']);

    const before = parseJsonOutput(ok(await oras(['discover', '--plain-http', `${source}:v1`, '--format', 'json']), 'oras discover source')) as Node;
    const after = parseJsonOutput(ok(await oras(['discover', '--plain-http', `${destination}:v1`, '--format', 'json']), 'oras discover destination')) as Node;
    expect(after.referrers.map((node) => [node.digest, node.referrers.map((child) => child.digest)])).toEqual([[sbom, [signature]]]);
    expect(withoutName(after, destination)).toEqual(withoutName(before, source));
  });

  it('copied into an OCI layout, it is pulled and discovered there by oras', async () => {
    const source = `${first().host}/${uniqueRepository('cp-oras-layout')}`;
    ok(await oras(['push', '--plain-http', `${source}:v1`, 'hello.txt']), 'oras push');
    const sbom = printedDigest(ok(await oras(['attach', '--plain-http', `${source}:v1`, '--artifact-type', 'application/spdx+json', 'sbom.json']), 'oras attach'));
    const layout = ws.path('layout');
    ok(await stowage(['cp', '-r', '--to-oci-layout', `${source}:v1`, `${layout}:v1`]), 'stowage cp -r to layout');
    const out = await ws.mkdir('pulled-layout');
    ok(await oras(['pull', '--oci-layout', `${layout}:v1`, '-o', out]), 'oras pull layout');
    expect(Object.keys(await snapshotTree(out))).toEqual(['hello.txt']);
    const tree = parseJsonOutput(ok(await oras(['discover', '--oci-layout', `${layout}:v1`, '--format', 'json']), 'oras discover layout')) as Node;
    expect(tree.referrers.map((node) => node.digest)).toEqual([sbom]);
  });
});
