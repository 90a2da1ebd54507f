/**
 * The `--format json` documents that scripts rely on, checked against strict zod schemas (no field more or
 * less than the README lists, in the README's order): push, pull, attach, discover, copy and repo tags.
 */
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, stowage as runStowage } from './helpers/cli.js';
import { parseJsonOutput, workspace, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();

let ws: Workspace;

beforeAll(async () => {
  ws = await workspace('json-shapes');
  await writeFile(ws.path('hello.txt'), 'hello\n');
  await writeFile(ws.path('sbom.json'), '{}\n');
});

afterAll(async () => {
  await ws.cleanup();
});

async function json(args: string[]): Promise<unknown> {
  return parseJsonOutput(ok(await runStowage([...args, '--format', 'json'], { cwd: ws.dir, env: ws.env }), args.join(' ')));
}

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const annotations = z.record(z.string(), z.string());
const descriptorFields = { reference: z.string(), mediaType: z.string(), digest, size: z.number().int().nonnegative() };

const pushDocument = z.strictObject({ ...descriptorFields, annotations, artifactType: z.string(), referenceAsTags: z.array(z.string()) });
const pullDocument = z.strictObject({
  reference: z.string(),
  files: z.array(z.strictObject({ path: z.string(), reference: z.string(), mediaType: z.string(), digest, size: z.number().int(), annotations })),
});
const attachDocument = z.strictObject({
  ...descriptorFields,
  annotations,
  artifactType: z.string(),
  subject: z.strictObject({ reference: z.string(), mediaType: z.string(), digest, size: z.number().int() }),
});
interface DiscoverNode {
  reference: string;
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string> | undefined;
  artifactType?: string | undefined;
  referrers: DiscoverNode[];
}
const discoverNode: z.ZodType<DiscoverNode> = z.lazy(() =>
  z.strictObject({ ...descriptorFields, annotations: annotations.optional(), artifactType: z.string().optional(), referrers: z.array(discoverNode) }),
);

describe('--format json documents', () => {
  it('push, pull, attach, discover, copy and repo tags print the documented shapes', async () => {
    const name = `${registry().host}/${uniqueRepository('json-shapes')}`;
    const pushed = pushDocument.parse(await json(['push', `${name}:v1,v2`, 'hello.txt', '-a', 'team=infra']));
    expect(pushed.referenceAsTags).toEqual([`${name}:v1`, `${name}:v2`]);
    expect(Object.keys(pushed)).toEqual(['reference', 'mediaType', 'digest', 'size', 'annotations', 'artifactType', 'referenceAsTags']);

    const pulled = pullDocument.parse(await json(['pull', `${name}:v1`, '-o', ws.path('out')]));
    expect(pulled.files.map((file) => file.annotations['org.opencontainers.image.title'])).toEqual(['hello.txt']);

    const attached = attachDocument.parse(await json(['attach', `${name}:v1`, '--artifact-type', 'application/spdx+json', 'sbom.json']));
    expect(attached.subject.digest).toBe(pushed.digest);

    const tree = discoverNode.parse(await json(['discover', `${name}:v1`]));
    expect(tree.referrers.map((node) => [node.digest, node.artifactType])).toEqual([[attached.digest, 'application/spdx+json']]);

    const copied = z
      .strictObject({ source: z.string(), ...descriptorFields, referenceAsTags: z.array(z.string()), referrers: z.array(z.unknown()) })
      .parse(await json(['copy', '-r', `${name}:v1`, `${name}-copy:v1`]));
    expect(copied.digest).toBe(pushed.digest);

    const tags = z.strictObject({ tags: z.array(z.string()) }).parse(await json(['repo', 'tags', name]));
    expect(tags.tags).toEqual(expect.arrayContaining(['v1', 'v2']));
  });
});
