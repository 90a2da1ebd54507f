/**
 * An IPv6 registry address, `[::1]:PORT/repo:tag`, through the built CLI: push, resolve, tag and pull.
 * Skipped only on a machine that cannot listen on ::1 (some containers have no IPv6).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipv6LoopbackAvailable, startRegistry, uniqueRepository, type RunningRegistry } from '../test/helpers/registry-harness.js';
import { ok, stowage } from './helpers/cli.js';
import { makeFixture, snapshotTree, workspace, type Fixture, type Workspace } from './helpers/fixtures.js';

const available = await ipv6LoopbackAvailable();

describe.skipIf(!available)('a registry on [::1]', () => {
  let registry: RunningRegistry;
  let ws: Workspace;
  let fixture: Fixture;

  beforeAll(async () => {
    registry = await startRegistry({ address: '::1' });
    ws = await workspace('ipv6');
    fixture = await makeFixture(await ws.mkdir('src'), 3);
  });

  afterAll(async () => {
    await registry.stop();
    await ws.cleanup();
  });

  it('pushes, resolves, tags and pulls by [::1]:PORT references', async () => {
    expect(registry.host).toMatch(/^\[::1\]:[0-9]+$/);
    const name = `${registry.host}/${uniqueRepository('ipv6')}`;
    const env = ws.env;
    const pushed = ok(await stowage(['push', `${name}:v1`, ...fixture.files, fixture.directory], { cwd: fixture.dir, env }), 'push');
    const digest = /Digest: (sha256:[a-f0-9]{64})/.exec(pushed.stdout)?.[1];
    expect(digest).toBeDefined();
    expect(ok(await stowage(['resolve', '-l', `${name}:v1`], { env }), 'resolve').stdout.trim()).toBe(`${name}@${digest ?? ''}`);
    ok(await stowage(['tag', `${name}:v1`, 'v2'], { env }), 'tag');
    const out = await ws.mkdir('out');
    ok(await stowage(['pull', `${name}:v2`, '-o', out], { env }), 'pull');
    const pulled = await snapshotTree(out);
    const source = await snapshotTree(fixture.dir);
    for (const [path, entry] of Object.entries(pulled)) expect(source[path]).toBe(entry);
    expect(Object.keys(pulled).length).toBeGreaterThan(3);
  });
});
