#!/usr/bin/env node
// The quick demo: push a file and a directory to an OCI image layout in a temp directory (no registry
// needed), pull them back into another directory, and show that the bytes came back unchanged.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../bin/run.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'stowage-demo-'));

function stowage(args, cwd) {
  console.log(`\n$ stowage ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' });
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  if (result.status !== 0) {
    console.error(`demo: stowage exited with ${result.status}`);
    process.exit(1);
  }
  return result.stdout;
}

function listFiles(dir) {
  const out = [];
  const walk = (path) => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(full);
    }
  };
  walk(dir);
  return out;
}

const sha = (path) => createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);

try {
  const src = join(work, 'src');
  mkdirSync(join(src, 'site', 'css'), { recursive: true });
  writeFileSync(join(src, 'sbom.spdx.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'demo' }, null, 2));
  writeFileSync(join(src, 'site', 'index.html'), '<h1>hello from stowage</h1>\n');
  writeFileSync(join(src, 'site', 'css', 'main.css'), 'h1 { color: teal; }\n');
  const layout = join(work, 'layout');
  const out = join(work, 'out');

  console.log(`demo: working in ${work}`);
  stowage(['push', '--oci-layout', `${layout}:v1`, '--artifact-type', 'application/vnd.example.demo', 'sbom.spdx.json:application/spdx+json', 'site'], src);
  stowage(['resolve', '--oci-layout', `${layout}:v1`], src);
  stowage(['pull', '--oci-layout', `${layout}:v1`, '-o', out], src);

  console.log('\ndemo: pulled files, and whether each matches what was pushed:');
  let same = true;
  for (const file of listFiles(out)) {
    const rel = relative(out, file);
    const match = sha(file) === sha(join(src, rel));
    same &&= match;
    console.log(`  ${match ? 'same' : 'DIFFERENT'}  ${rel}  sha256:${sha(file)}…`);
  }
  console.log(`\ndemo: the layout at ${layout} holds ${readdirSync(join(layout, 'blobs', 'sha256')).length} blobs`);
  if (!same) process.exit(1);
  console.log('demo: done');
} finally {
  rmSync(work, { recursive: true, force: true });
}
