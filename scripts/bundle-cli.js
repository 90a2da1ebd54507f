#!/usr/bin/env node
/**
 * Bundles the built CLI (tsc's `dist/commands/index.js`, the library under it, and oclif, zod, undici, ora,
 * chalk and the rest of its dependencies) into one script, `dist/cli-script.js`: a CommonJS bundle wrapped
 * in a function expression, which `bin/cli-loader.js` compiles with V8's code cache and runs. It also writes
 * `dist/cli-commands.js`, the module oclif's explicit command strategy imports for the command classes.
 * `npm run build` runs it after tsc.
 *
 * Why one file: Node 20 has no compile cache for ES modules, and resolving, reading and linking ~400 module
 * files cost more than what they run. Measured on the 2-core machine of the README's bench: `stowage version`
 * went from 0.34-0.47 s to 0.21-0.29 s of wall time as one ES module, and to 0.13-0.17 s as this script with
 * its code cache. Why a function expression: compiling the bundle wrapped in a string built at run time
 * took 8 MiB more memory. Modules the CLI imports on demand (ora, tar-stream) are wrapped by esbuild and
 * still only run when imported; `import()` of what is not bundled (oclif's plugins and hooks, the keychain
 * module) goes through a function the loader passes, as a script compiled by vm.Script has none. The
 * bundle's metafile (every input, and how each imports the others) is written to `dist/cli.meta.json`.
 *
 * The library (`dist/src`, the package's `exports`) is not bundled: programs that import it keep their
 * own copies of undici and zod and their bundlers' choices.
 *
 *   node scripts/bundle-cli.js            # after tsc -p tsconfig.build.json
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(`${root}dist/commands/index.js`)) {
  process.stderr.write('bundle-cli: dist/commands/index.js is missing: run tsc -p tsconfig.build.json first\n');
  process.exit(1);
}

const outfile = `${root}dist/cli-script.js`;
const result = await build({
  stdin: {
    contents: "export { commands } from './dist/commands/index.js';\nexport { execute } from '@oclif/core';\n",
    resolveDir: root,
    sourcefile: 'cli-entry.js',
    loader: 'js',
  },
  outfile,
  bundle: true,
  platform: 'node',
  // CommonJS, then wrapped in a function expression below: bin/cli-loader.js compiles it with vm.Script,
  // which takes V8's code cache, and calls it as Node calls a CommonJS module.
  format: 'cjs',
  target: 'node20.18',
  // Native and optional: loaded from node_modules when (and if) the keychain is used.
  // typescript and ts-node: oclif loads them only to run a CLI from its TypeScript sources.
  external: ['@napi-rs/keyring', 'typescript', 'ts-node', 'tsx'],
  define: { 'import.meta.url': 'stowageModuleUrl' },
  banner: {
    js: [
      '"use strict";',
      // What `import.meta.url` was in the sources.
      "var stowageModuleUrl = require('node:url').pathToFileURL(__filename).href;",
      // A script compiled by vm.Script has no import() of its own: bin/cli-loader.js passes one.
      'var stowageImport = stowageLoaderImport;',
    ].join('\n'),
  },
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
  write: false,
});
// Every import() left in the bundle (oclif loading plugins and hooks, the keychain module) goes through
// stowageImport. `import()` followed by `)` is text (messages, comments), and `{import(` a JSDoc type: not calls.
const text = result.outputFiles[0]?.text ?? '';
const dynamicImport = /(?<![\w$.{])import\((?!\))/g;
const body = text.slice(text.indexOf('\n', text.indexOf('var stowageImport')) + 1);
const head = text.slice(0, text.length - body.length);
const rewritten = body.replace(dynamicImport, 'stowageImport(');
// One function expression, its first line the bundle's: stack traces keep the bundle's line numbers.
const script = `(function (exports, require, module, __filename, __dirname, stowageLoaderImport) {${head}${rewritten}\n})`;
writeFileSync(outfile, script);
// What names the script's code cache: V8 checks a cache only against the length of the source, and two
// builds (two releases, whose files npm gives one fixed mtime) can have the same length.
writeFileSync(`${root}dist/cli-script.sha256`, `${createHash('sha256').update(script).digest('hex')}\n`);
// What went in and how each file imports the others: e2e/startup.test.ts reads it.
writeFileSync(`${root}dist/cli.meta.json`, JSON.stringify(result.metafile));
// oclif's explicit strategy imports its target for the command classes: those of the loaded bundle.
writeFileSync(
  `${root}dist/cli-commands.js`,
  [
    '// Written by scripts/bundle-cli.js: the commands for oclif, from the bundle bin/cli-loader.js loads (once a process).',
    "import { loadCli } from '../bin/cli-loader.js';",
    '',
    'export const commands = loadCli().commands;',
    '',
  ].join('\n'),
);
