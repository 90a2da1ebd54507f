/**
 * Shell completion through @oclif/plugin-autocomplete: `stowage autocomplete bash|zsh` prints the set-up and
 * writes the completion functions into the cache directory; the bash function, called the way bash calls it
 * (COMP_WORDS, COMP_CWORD), offers commands, topics (`manifest fetch`, `repo tags`) and flags; the zsh
 * function parses (`zsh -n`). A private STOWAGE_CACHE_DIR keeps the user's cache out of it.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, stowage } from './helpers/cli.js';
import { workspace, type Workspace } from './helpers/fixtures.js';

let ws: Workspace;
let env: Record<string, string>;
let bashSetup: string;

beforeAll(async () => {
  ws = await workspace('completion');
  env = { ...ws.env, STOWAGE_CACHE_DIR: ws.path('cache') };
  const instructions = ok(await stowage(['autocomplete', 'bash'], { env }), 'stowage autocomplete bash');
  expect(instructions.stdout).toContain('stowage autocomplete script bash');
  bashSetup = ok(await stowage(['autocomplete', 'script', 'bash'], { env }), 'stowage autocomplete script bash').stdout;
});

afterAll(async () => {
  await ws.cleanup();
});

/** What bash offers for `words` (the last one is the word being completed, maybe empty), de-duplicated. */
function complete(words: string[]): string[] {
  const script = [
    bashSetup,
    'complete -p stowage >/dev/null || exit 9',
    'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))',
    '_stowage_autocomplete',
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join('\n');
  const result = spawnSync('bash', ['-c', script, 'bash', ...words], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (result.status !== 0) throw new Error(`bash completion exited ${result.status}: ${result.stderr}`);
  expect(result.stderr).toBe('');
  return [...new Set(result.stdout.split('\n').filter((line) => line !== ''))];
}

describe('shell completion', () => {
  it('bash: the completion function is registered for stowage and offers commands and topics', () => {
    const top = complete(['stowage', '']);
    expect(top).toEqual(expect.arrayContaining(['push', 'pull', 'manifest', 'blob', 'repo', 'copy', 'cp', 'version']));
    expect(top.filter((word) => word.includes(':'))).toEqual([]);
    expect(complete(['stowage', 'pu'])).toEqual(['pull', 'push']);
    expect(complete(['stowage', 'manifest', ''])).toEqual(expect.arrayContaining(['fetch', 'fetch-config', 'push', 'delete', 'index']));
    expect(complete(['stowage', 'manifest', 'index', ''])).toEqual(['create', 'update']);
    expect(complete(['stowage', 'repo', 't'])).toEqual(['tags']);
  });

  it('bash: flags of the command typed so far', () => {
    expect(complete(['stowage', 'push', '--art'])).toEqual(['--artifact-type']);
    expect(complete(['stowage', 'manifest', 'fetch', '--pl'])).toEqual(expect.arrayContaining(['--platform', '--plain-http']));
    expect(complete(['stowage', 'cp', '--from-oci'])).toEqual(['--from-oci-layout', '--from-oci-layout-path']);
  });

  it('zsh: the set-up and the completion function parse', async () => {
    const instructions = ok(await stowage(['autocomplete', 'zsh'], { env }), 'stowage autocomplete zsh');
    expect(instructions.stdout).toContain('stowage autocomplete script zsh');
    const compfunc = ws.path('cache', 'autocomplete', 'functions', 'zsh', '_stowage');
    const text = await readFile(compfunc, 'utf8');
    expect(text).toMatch(/^#compdef stowage/);
    expect(text).toContain('_stowage_manifest_index');
    expect(text).toContain('--artifact-type');
    for (const file of [compfunc, ws.path('cache', 'autocomplete', 'zsh_setup')]) {
      const check = spawnSync('zsh', ['-n', file], { encoding: 'utf8' });
      expect(check.error).toBeUndefined();
      expect(check.stderr).toBe('');
      expect(check.status).toBe(0);
    }
  });
});
