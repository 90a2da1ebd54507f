/**
 * `--format go-template` with `--template` (or `--format go-template=TEMPLATE`), as ORAS 1.3 takes it: the template runs
 * over the document `--format json` prints, and stowage prints what oras prints for the same template.
 */
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, runIn, type RunResult } from './helpers/cli.js';
import { expectOneError, workspace, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();
const created = 'org.opencontainers.image.created=2024-01-01T00:00:00Z';

let ws: Workspace;

beforeAll(async () => {
  ws = await workspace('template');
  await writeFile(ws.path('hello.txt'), 'hello\n');
  await writeFile(ws.path('world.txt'), 'world\n');
  await writeFile(ws.path('sbom.json'), '{}\n');
});

afterAll(async () => {
  await ws.cleanup();
});

const { stowage, oras } = runIn(() => ws);

describe('--format go-template', () => {
  it('push prints {{.digest}} as oras does, with --template or inline', async () => {
    const name = `${registry().host}/${uniqueRepository('template-push')}`;
    const files = ['hello.txt', 'world.txt', '--annotation', created];
    const ours = ok(await stowage(['push', `${name}:stowage`, ...files, '--format', 'go-template', '--template', '{{.digest}}']), 'stowage push');
    const theirs = ok(await oras(['push', '--plain-http', `${name}:oras`, ...files, '--format', 'go-template', '--template', '{{.digest}}']), 'oras push');
    expect(ours.stdout).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(ours.stdout).toBe(theirs.stdout);

    const inline = ok(await stowage(['push', `${name}:inline`, ...files, '--format=go-template={{.digest}} {{.mediaType}} {{.size}}']), 'stowage push');
    const orasInline = ok(await oras(['push', '--plain-http', `${name}:inline2`, ...files, '--format=go-template={{.digest}} {{.mediaType}} {{.size}}']), 'oras push');
    expect(inline.stdout).toBe(orasInline.stdout);
    expect(inline.stdout.startsWith(ours.stdout)).toBe(true);
  });

  it('pull ranges over .files as oras does', async () => {
    const name = `${registry().host}/${uniqueRepository('template-pull')}`;
    ok(await stowage(['push', `${name}:v1`, 'hello.txt', 'world.txt']), 'stowage push');
    const template = '{{range .files}}{{.path}} {{.size}}{{"\\n"}}{{end}}';
    const ours = ok(await stowage(['pull', `${name}:v1`, '-o', ws.path('ours'), '--format', 'go-template', '--template', template]), 'stowage pull');
    const theirs = ok(await oras(['pull', '--plain-http', `${name}:v1`, '-o', ws.path('theirs'), '--format', 'go-template', '--template', template]), 'oras pull');
    const lines = (result: RunResult, dir: string): string[] => result.stdout.replaceAll(ws.path(dir), '<out>').split('\n').sort();
    expect(lines(ours, 'ours')).toEqual(['', '<out>/hello.txt 6', '<out>/world.txt 6']);
    expect(lines(ours, 'ours')).toEqual(lines(theirs, 'theirs'));
  });

  it('discover prints the referrers with toJson and range as oras does', async () => {
    const name = `${registry().host}/${uniqueRepository('template-discover')}`;
    ok(await stowage(['push', `${name}:v1`, 'hello.txt']), 'stowage push');
    const attached = ok(
      await stowage(['attach', `${name}:v1`, '--artifact-type', 'application/spdx+json', 'sbom.json', '--annotation', created, '--format', 'go-template', '--template', '{{.digest}}']),
      'stowage attach',
    );
    for (const template of ['{{toJson .referrers}}', '{{range .referrers}}{{.artifactType}} {{.digest}}{{"\\n"}}{{end}}']) {
      const ours = ok(await stowage(['discover', `${name}:v1`, '--format', 'go-template', '--template', template]), 'stowage discover');
      const theirs = ok(await oras(['discover', '--plain-http', `${name}:v1`, '--format', 'go-template', '--template', template]), 'oras discover');
      expect(ours.stdout).toContain(attached.stdout);
      expect(ours.stdout, template).toBe(theirs.stdout);
    }
  });
});

describe('--template errors', () => {
  it('an invalid template is a usage error (exit 2, one Error line), before anything is pushed', async () => {
    const name = `${registry().host}/${uniqueRepository('template-bad')}`;
    expectOneError(await stowage(['push', `${name}:v1`, 'hello.txt', '--format', 'go-template', '--template', '{{.digest']), 2, ['invalid --template', 'unclosed action']);
    expectOneError(await stowage(['push', `${name}:v1`, 'hello.txt', '--format', 'go-template', '--template', '{{nope .digest}}']), 2, ['function "nope" not defined']);
    // Nothing was pushed: the repository does not exist.
    expectOneError(await stowage(['repo', 'tags', name]), 1, []);
  });

  it('--template needs --format go-template, and go-template needs a template, as in oras', async () => {
    const name = `${registry().host}/${uniqueRepository('template-pairing')}`;
    expectOneError(await stowage(['push', `${name}:v1`, 'hello.txt', '--template', '{{.digest}}']), 2, ['--template must be used with --format go-template']);
    expectOneError(await stowage(['push', `${name}:v1`, 'hello.txt', '--format', 'json', '--template', '{{.digest}}']), 2, ['--format go-template']);
    expectOneError(await stowage(['push', `${name}:v1`, 'hello.txt', '--format', 'go-template']), 2, ['needs a template']);
    expectOneError(await stowage(['push', `${name}:v1`, 'hello.txt', '--format', 'go-template={{.digest}}', '--template', '{{.size}}']), 2, ['give the template once']);
  });
});
