#!/usr/bin/env node
/**
 * Bundles the built CLI (tsc's `dist/commands/index.js`, the library under it, and oclif, zod, undici, ora,
 * chalk and the rest of its dependencies) into one ES module, `dist/cli.js`, which `bin/run.js` and oclif's
 * explicit command strategy load. `npm run build` runs it after tsc.
 *
 * Why: Node 20 has no compile cache for ES modules, and resolving, reading and linking ~400 module files
 * cost more than what they run. Measured on the 2-core machine of the README's bench: `stowage version` went from 0.34-0.47 s
 * to 0.21-0.29 s of wall time, and a 1 GiB pull from 2.16 s to 1.83 s (medians of 5, see bench/). Modules the
 * CLI imports on demand (ora, tar-stream) are wrapped by esbuild and still only run when imported. The
 * bundle's metafile (every input, and how each imports the others) is written to `dist/cli.meta.json`.
 *
 * The library (`dist/src`, the package's `exports`) is not bundled: programs that import it keep their
 * own copies of undici and zod and their bundlers' choices.
 *
 *   node scripts/bundle-cli.js            # after tsc -p tsconfig.build.json
 */
import { build } from 'esbuild';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(`${root}dist/commands/index.js`)) {
  process.stderr.write('bundle-cli: dist/commands/index.js is missing: run tsc -p tsconfig.build.json first\n');
  process.exit(1);
}

const result = await build({
  stdin: {
    contents: "export { commands } from './dist/commands/index.js';\nexport { execute } from '@oclif/core';\n",
    resolveDir: root,
    sourcefile: 'cli-entry.js',
    loader: 'js',
  },
  outfile: `${root}dist/cli.js`,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.18',
  // Native and optional: loaded from node_modules when (and if) the keychain is used.
  // typescript and ts-node: oclif loads them only to run a CLI from its TypeScript sources.
  external: ['@napi-rs/keyring', 'typescript', 'ts-node', 'tsx'],
  // The CommonJS packages in the bundle (oclif, undici) call require() for Node's built-in modules.
  banner: { js: "import { createRequire as stowageCreateRequire } from 'node:module';\nconst require = stowageCreateRequire(import.meta.url);" },
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
});
// What went in and how each file imports the others: e2e/startup.test.ts reads it.
writeFileSync(`${root}dist/cli.meta.json`, JSON.stringify(result.metafile));
