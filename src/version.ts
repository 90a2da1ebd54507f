/** stowage's own version, read once from its package.json. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const packageJsonSchema = z.looseObject({ name: z.string(), version: z.string() });

// This file runs as src/version.ts (vitest) and as dist/src/version.js (built): walk up to the package root.
function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 4; level++) {
    try {
      const parsed = packageJsonSchema.safeParse(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')));
      if (parsed.success && parsed.data.name === 'stowage') return parsed.data.version;
    } catch {
      // No package.json at this level: keep walking up.
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return '0.0.0';
}

/** The version in stowage's package.json (`0.0.0` if it cannot be found). */
export const stowageVersion: string = readVersion();

/** The User-Agent stowage sends: `stowage/<version>`. */
export const userAgent = `stowage/${stowageVersion}`;
