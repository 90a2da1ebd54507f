/**
 * Referrers between stowage and ORAS 1.3 on the same subject: `oras discover` lists what `stowage attach`
 * attached and `stowage discover` lists what `oras attach` attached, with the same artifact types and
 * digests; on a registry (both use the `sha256-<hex>` tag index) the JSON outputs are the same document,
 * and in an OCI layout both answer from the layout's graph.
 */
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, orasPath, startStowage, runIn, type RunResult } from './helpers/cli.js';
import { spawn } from 'node:child_process';
import { parseJsonOutput, workspace, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();

let ws: Workspace;

beforeAll(async () => {
  ws = await workspace('referrers-oras');
  await writeFile(ws.path('hello.txt'), 'hello\n');
  await writeFile(ws.path('sbom.json'), '{"spdxVersion":"SPDX-2.3"}\n');
  await writeFile(ws.path('sig.bin'), 'signature\n');
  await writeFile(ws.path('vex.json'), '{"vex":true}\n');
});

afterAll(async () => {
  await ws.cleanup();
});

const { stowage, oras } = runIn(() => ws);

interface Node {
  digest: string;
  artifactType?: string;
  referrers: Node[];
}

function printedDigest(result: RunResult): string {
  const digest = /^Digest: (sha256:[a-f0-9]{64})$/m.exec(result.stdout)?.[1];
  if (digest === undefined) throw new Error(`no digest in:\n${result.stdout}`);
  return digest;
}

/** `artifactType digest` of every node, depth first, with the nesting as indentation; sorted per level. */
function outline(nodes: Node[], depth = 0): string[] {
  return [...nodes]
    .sort((a, b) => a.digest.localeCompare(b.digest))
    .flatMap((node) => [`${'  '.repeat(depth)}${node.artifactType ?? ''} ${node.digest}`, ...outline(node.referrers, depth + 1)]);
}

describe('stowage and oras referrers on one subject', () => {
  it('on a registry: each discovers what the other attached, and the JSON documents are the same', async () => {
    const name = `${registry().host}/${uniqueRepository('interop-referrers')}`;
    ok(await stowage(['push', `${name}:v1`, 'hello.txt']), 'stowage push');
    const ours = parseJsonOutput(ok(await stowage(['attach', `${name}:v1`, '--artifact-type', 'application/spdx+json', 'sbom.json', '--format', 'json']), 'stowage attach')) as {
      digest: string;
    };
    const theirs = printedDigest(ok(await oras(['attach', '--plain-http', `${name}:v1`, '--artifact-type', 'application/vnd.example.signature', 'sig.bin']), 'oras attach'));
    // A chain across tools: oras attaches to stowage's referrer, stowage to oras's.
    const theirsOnOurs = printedDigest(ok(await oras(['attach', '--plain-http', `${name}@${ours.digest}`, '--artifact-type', 'application/vnd.example.vex', 'vex.json']), 'oras attach'));
    const oursOnTheirs = parseJsonOutput(
      ok(await stowage(['attach', `${name}@${theirs}`, '--artifact-type', 'application/vnd.example.countersignature', 'sig.bin', '--format', 'json']), 'stowage attach'),
    ) as { digest: string };

    const stowageJson = parseJsonOutput(ok(await stowage(['discover', `${name}:v1`, '--format', 'json']), 'stowage discover')) as { referrers: Node[] };
    const orasJson = parseJsonOutput(ok(await oras(['discover', '--plain-http', `${name}:v1`, '--format', 'json']), 'oras discover')) as { referrers: Node[] };
    expect(outline(stowageJson.referrers)).toEqual(
      outline([
        { digest: ours.digest, artifactType: 'application/spdx+json', referrers: [{ digest: theirsOnOurs, artifactType: 'application/vnd.example.vex', referrers: [] }] },
        {
          digest: theirs,
          artifactType: 'application/vnd.example.signature',
          referrers: [{ digest: oursOnTheirs.digest, artifactType: 'application/vnd.example.countersignature', referrers: [] }],
        },
      ]),
    );
    expect(orasJson).toEqual(stowageJson);

    // The trees hold the same lines (ORAS prints annotations in map order, stowage sorted).
    const stowageTree = ok(await stowage(['discover', `${name}:v1`]), 'stowage discover').stdout.split('\n');
    const orasTree = ok(await oras(['discover', '--plain-http', `${name}:v1`]), 'oras discover').stdout.split('\n');
    expect([...stowageTree].sort()).toEqual([...orasTree].sort());
    expect(stowageTree[0]).toBe(orasTree[0]);

    // Both filter alike.
    const filteredOurs = parseJsonOutput(ok(await stowage(['discover', `${name}:v1`, '--format', 'json', '--artifact-type', 'application/vnd.example.signature']), 'stowage discover'));
    const filteredTheirs = parseJsonOutput(ok(await oras(['discover', '--plain-http', `${name}:v1`, '--format', 'json', '--artifact-type', 'application/vnd.example.signature']), 'oras discover'));
    expect(filteredTheirs).toEqual(filteredOurs);
  });

  it('in an OCI layout: each discovers what the other attached', async () => {
    const layout = ws.path('interop-layout');
    ok(await stowage(['push', '--oci-layout', `${layout}:v1`, 'hello.txt']), 'stowage push');
    const ours = parseJsonOutput(ok(await stowage(['attach', '--oci-layout', `${layout}:v1`, '--artifact-type', 'application/spdx+json', 'sbom.json', '--format', 'json']), 'stowage attach')) as {
      digest: string;
    };
    const theirs = printedDigest(ok(await oras(['attach', '--oci-layout', `${layout}:v1`, '--artifact-type', 'application/vnd.example.signature', 'sig.bin']), 'oras attach'));
    const expected = [`application/spdx+json ${ours.digest}`, `application/vnd.example.signature ${theirs}`].sort();

    const stowageJson = parseJsonOutput(ok(await stowage(['discover', '--oci-layout', `${layout}:v1`, '--format', 'json']), 'stowage discover')) as { referrers: Node[] };
    const orasJson = parseJsonOutput(ok(await oras(['discover', '--oci-layout', `${layout}:v1`, '--format', 'json']), 'oras discover')) as { referrers: Node[] };
    expect(outline(stowageJson.referrers).sort()).toEqual(expected);
    expect(outline(orasJson.referrers).sort()).toEqual(expected);
    // Same document but for the order of the referrers (ORAS walks its graph in map order).
    const byDigest = (doc: { referrers: Node[] }): unknown => ({ ...doc, referrers: [...doc.referrers].sort((a, b) => a.digest.localeCompare(b.digest)) });
    expect(byDigest(orasJson)).toEqual(byDigest(stowageJson));
  });

  it('stowage attaches racing with oras attaches on one subject: every stowage referrer is kept', async () => {
    const name = `${registry().host}/${uniqueRepository('interop-race')}`;
    ok(await stowage(['push', `${name}:v1`, 'hello.txt']), 'stowage push');
    // A file of its own per process: docker-registry 2.8 can briefly report a blob unknown while several
    // clients upload the same new blob at once, which is not what this test is about.
    for (let index = 0; index < 10; index++) await writeFile(ws.path(`race-${index}.txt`), `racer ${index}\n`);
    const ours = Array.from({ length: 5 }, (_, index) =>
      startStowage(['attach', `${name}:v1`, '--artifact-type', `application/vnd.example.stowage${index}`, `race-${index}.txt`, '--format', 'json'], { cwd: ws.dir, env: ws.env }).result,
    );
    const theirs = Array.from({ length: 5 }, (_, index) =>
      new Promise<number>((resolve) => {
        const child = spawn(orasPath(), ['attach', '--plain-http', `${name}:v1`, '--artifact-type', `application/vnd.example.oras${index}`, `race-${index + 5}.txt`], {
          cwd: ws.dir,
          env: { ...process.env, ...ws.env },
          stdio: 'ignore',
        });
        child.on('close', (code) => {
          resolve(code ?? -1);
        });
      }),
    );
    const attached = (await Promise.all(ours)).map((result, index) => (parseJsonOutput(ok(result, `stowage attach ${index}`)) as { digest: string }).digest);
    expect(await Promise.all(theirs)).toEqual([0, 0, 0, 0, 0]);
    const listed = parseJsonOutput(ok(await oras(['discover', '--plain-http', `${name}:v1`, '--format', 'json']), 'oras discover')) as { referrers: Node[] };
    const digests = new Set(listed.referrers.map((node) => node.digest));
    // ORAS's own entries may be lost among ORAS writers (a single read-modify-write each); ours never are.
    expect(attached.filter((digest) => !digests.has(digest))).toEqual([]);
  });
});
