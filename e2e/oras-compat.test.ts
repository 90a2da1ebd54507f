/**
 * The README's "Compatibility with ORAS 1.3" table: `scripts/oras-compat.js` compares the built CLI's command
 * map with ORAS's command and flag names (scripts/oras-1.3-flags.json) and prints one row per ORAS command;
 * the table in README.md is that output (`node scripts/oras-compat.js --update-readme` after a flag changes).
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

const root = fileURLToPath(new URL('../', import.meta.url));
const orasNames = z.object({ commands: z.record(z.string(), z.record(z.string(), z.string().length(1).nullable())) });

let table: string;
let orasCommands: Record<string, Record<string, string | null>>;

beforeAll(async () => {
  const result = spawnSync(process.execPath, [`${root}scripts/oras-compat.js`], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`oras-compat.js exited ${result.status}: ${result.stderr}`);
  table = result.stdout.trim();
  orasCommands = orasNames.parse(JSON.parse(await readFile(`${root}scripts/oras-1.3-flags.json`, 'utf8'))).commands;
});

/** The cells of the table's data rows (header and separator left out). */
function rows(): string[][] {
  return table
    .split('\n')
    .slice(2)
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
}

describe('compatibility with ORAS 1.3', () => {
  it('has one row per ORAS command, in the order of the names file, each yes, partial or no', () => {
    expect(Object.keys(orasCommands).length).toBeGreaterThanOrEqual(20);
    expect(rows().map((cells) => cells[0])).toEqual(Object.keys(orasCommands).map((command) => `oras ${command}`));
    for (const cells of rows()) {
      expect(cells).toHaveLength(4);
      expect(['yes', 'partial', 'no']).toContain(cells[2]);
    }
  });

  it('names the stowage command (with its aliases) and every flag it lacks', () => {
    const byCommand = new Map(rows().map((cells) => [cells[0], cells]));
    expect(byCommand.get('oras cp')?.[1]).toBe('stowage copy (cp)');
    expect(byCommand.get('oras manifest index create')?.[1]).toBe('stowage manifest index create');
    expect(byCommand.get('oras backup')?.slice(1)).toEqual(['—', 'no', '—']);
    // Flags every stowage command has are never reported missing.
    for (const [orasCommand, , status, lacks] of rows()) {
      if (status === 'yes') expect(lacks).toBe('all');
      if (status !== 'partial') continue;
      expect(lacks).toMatch(/^all but -/);
      const missing = lacks!.slice('all but '.length).split(', ');
      expect(missing).not.toEqual(expect.arrayContaining(['--help']));
      expect(missing).not.toEqual(expect.arrayContaining(['--debug']));
      // Every flag named is one of ORAS's for that command.
      const flags = orasCommands[orasCommand!.slice('oras '.length)]!;
      for (const flag of missing) expect(flag.startsWith('--') ? flag.slice(2) in flags : /^-[a-zA-Z] \(for --[a-z0-9-]+\)$/.test(flag)).toBe(true);
    }
  });

  it('is the table in README.md (run `node scripts/oras-compat.js --update-readme` after changing flags)', async () => {
    const readme = await readFile(`${root}README.md`, 'utf8');
    const start = readme.indexOf('<!-- oras-compat:start');
    const end = readme.indexOf('<!-- oras-compat:end -->');
    expect(start).toBeGreaterThan(0);
    expect(readme.slice(readme.indexOf('\n', start) + 1, end).trim()).toBe(table);
    expect(readme.indexOf('## Compatibility with ORAS 1.3')).toBeLessThan(start);
  });
});
