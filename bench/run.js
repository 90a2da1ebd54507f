#!/usr/bin/env node
/**
 * Side-by-side benchmark: push and pull a large random file and many 1 MiB files with stowage (the built
 * CLI), `oras` and plain `curl` (POST + streaming PUT `-T` for a push, GET for a pull), against one local
 * docker-registry this script starts. Tools alternate run by run (the starting tool rotates), every push
 * goes to a fresh repository (nothing is skipped) and every stowage/oras run gets a fresh HOME (no cache
 * from an earlier run; only stowage's compiled-code cache is shared, filled before the first run); every
 * run starts after a `sync`, with no writeback of earlier runs pending. Prints medians, ratios against curl
 * and oras, and peak memory (RSS high-water mark: `/usr/bin/time`'s maximum resident set size, else VmHWM
 * sampled from /proc).
 *
 *   npm run bench                                  # 3 runs, 1 GiB and 100 x 1 MiB
 *   npm run bench -- --runs 5 --size 1g --files 100
 *   npm run bench -- --big                         # also a 4 GiB file (for memory: no larger than 1 GiB)
 *   npm run bench -- --tools stowage,curl --json results.json
 *   npm run bench -- --tools stowage,oras,curl,node-floor
 *
 * `node-floor` (not run by default) is bench/node-floor.js: the least a Node.js process can do with
 * node:http (no framework, no checks), on the sets of small files only. It shows what Node's start and
 * client cost on this machine, whatever a CLI does on top.
 *
 * Environment: BENCH_RUNS, BENCH_SIZE, BENCH_FILES, BENCH_TMPDIR (where the data and registry go; or
 * --tmpdir DIR). The artifact every pull reads is pushed once with oras, so oras must be installed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startRegistry } from './registry.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const mebibyte = 1024 * 1024;
const gibibyte = 1024 * mebibyte;
const timeBinary = '/usr/bin/time';

// ---------------------------------------------------------------------------------------------- options

function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(String(text).trim());
  if (match === null) throw new Error(`invalid size "${text}": use e.g. 512m, 1g, 4g`);
  const unit = { '': 1, k: 1024, m: mebibyte, g: gibibyte, t: 1024 * gibibyte }[match[2].toLowerCase()];
  return Math.round(Number(match[1]) * unit);
}

function parseArgs(argv) {
  const options = {
    runs: Number(process.env.BENCH_RUNS ?? 3),
    size: parseSize(process.env.BENCH_SIZE ?? '1g'),
    files: Number(process.env.BENCH_FILES ?? 100),
    big: false,
    tools: ['stowage', 'oras', 'curl'],
    json: undefined,
    tmp: process.env.BENCH_TMPDIR ?? tmpdir(),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--runs') options.runs = Number(value());
    else if (arg === '--size') options.size = parseSize(value());
    else if (arg === '--files') options.files = Number(value());
    else if (arg === '--big') options.big = true;
    else if (arg === '--tools') options.tools = value().split(',').map((tool) => tool.trim());
    else if (arg === '--json') options.json = value();
    else if (arg === '--tmpdir') options.tmp = value();
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0].replace(/^#!.*\n\/\*\*\n/, '').replace(/^ \* ?/gm, ''));
      process.exit(0);
    } else throw new Error(`unknown argument "${arg}" (see --help)`);
  }
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new Error('--runs must be a positive integer');
  if (!Number.isInteger(options.files) || options.files < 1) throw new Error('--files must be a positive integer');
  for (const tool of options.tools) if (!['stowage', 'oras', 'curl', 'node-floor'].includes(tool)) throw new Error(`unknown tool "${tool}"`);
  return options;
}

// ------------------------------------------------------------------------------------------------ helpers

function formatSize(bytes) {
  if (bytes >= gibibyte && bytes % gibibyte === 0) return `${bytes / gibibyte} GiB`;
  if (bytes >= mebibyte && bytes % mebibyte === 0) return `${bytes / mebibyte} MiB`;
  return `${bytes} B`;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function log(text) {
  process.stderr.write(`${text}\n`);
}

function orasPath() {
  const local = join(root, '.tools/bin/oras');
  return existsSync(local) ? local : 'oras';
}

function firstLine(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    return 'unavailable';
  }
}

/** Writes `size` random bytes to `path` in 1 MiB chunks and returns `sha256:<hex>`. */
async function writeRandomFile(path, size) {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let written = 0; written < size; ) {
    const chunk = randomBytes(Math.min(mebibyte, size - written));
    hash.update(chunk);
    written += chunk.byteLength;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
  return `sha256:${hash.digest('hex')}`;
}

/** Reads files once so every tool starts from a warm page cache. */
async function warm(paths) {
  for (const path of paths) {
    for await (const _chunk of createReadStream(path, { highWaterMark: 4 * mebibyte })) {
      // Reading is the point.
    }
  }
}

/** Reads VmHWM (kB) of a running process; undefined once it is gone. */
function highWaterMark(pid) {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * Runs a command, timing it (wall clock) and measuring its peak RSS in KiB and, with /usr/bin/time, its
 * user and system CPU seconds (a slow run's cause: the tool's own work, or the kernel's).
 * @returns {Promise<{ seconds: number, rssKiB: number | undefined, userSeconds?: number, systemSeconds?: number }>}
 */
async function measure(command, args, { cwd, env, useTime }) {
  // Each run starts with nothing waiting to be written back: gigabytes that an earlier push left in the
  // page cache are flushed by kernel threads that would take CPU from this run (2 cores).
  execFileSync('sync');
  const timeFile = join(tmpdir(), `stowage-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const [file, argv] = useTime ? [timeBinary, ['-f', '%M %U %S', '-o', timeFile, command, ...args]] : [command, args];
  const started = performance.now();
  const child = spawn(file, argv, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  let sampled;
  const sampler = useTime
    ? undefined
    : setInterval(() => {
        sampled = highWaterMark(child.pid) ?? sampled;
      }, 20);
  const [code, signal] = await once(child, 'close');
  const seconds = (performance.now() - started) / 1000;
  if (sampler !== undefined) clearInterval(sampler);
  let rssKiB = sampled;
  let cpu = {};
  if (useTime) {
    const text = await readFile(timeFile, 'utf8').catch(() => '');
    await rm(timeFile, { force: true });
    const match = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(text.trim());
    rssKiB = match === null ? undefined : Number(match[1]);
    if (match !== null) cpu = { userSeconds: Number(match[2]), systemSeconds: Number(match[3]) };
  }
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code ?? signal}):\n${stderr}`);
  return { seconds, rssKiB, ...cpu };
}

async function head(url) {
  const response = await request(url, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  await response.body.dump();
  return response.statusCode;
}

// ------------------------------------------------------------------------------------------------- tools

/** A set of files to move: their names (relative to `dir`), sizes and digests. */
function fileSet(label, dir, files) {
  return { label, dir, files, bytes: files.reduce((sum, file) => sum + file.size, 0) };
}

/** The shell script that pushes blobs with curl: POST a session, then one streaming PUT of the file. */
const curlPushScript = `#!/bin/sh
# usage: push.sh BASE REPOSITORY LIST   (LIST: "<digest> <path>" per line)
set -eu
base=$1; repository=$2
while read -r digest path; do
  location=$(curl -sS -f -X POST -o /dev/null -w '%header{location}' "$base/v2/$repository/blobs/uploads/")
  case "$location" in http*) ;; *) location="$base$location" ;; esac
  case "$location" in *\\?*) separator='&' ;; *) separator='?' ;; esac
  curl -sS -f -o /dev/null -H 'Content-Type: application/octet-stream' -T "$path" "$location\${separator}digest=$digest"
done < "$3"
`;

function toolCommands(registry, work, useTime) {
  const node = process.execPath;
  const cli = join(root, 'bin/run.js');
  const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', NO_COLOR: '1' };
  let homes = 0;
  /** A fresh HOME (and XDG dirs): no credentials, no digest cache, no upload state from earlier runs. */
  const freshHome = async () => {
    const home = join(work, 'homes', String(++homes));
    await mkdir(join(home, '.docker'), { recursive: true });
    return {
      ...baseEnv,
      HOME: home,
      DOCKER_CONFIG: join(home, '.docker'),
      XDG_CACHE_HOME: join(home, '.cache'),
      XDG_STATE_HOME: join(home, '.local/state'),
      XDG_CONFIG_HOME: join(home, '.config'),
      TMPDIR: work,
    };
  };
  // The CLI's code cache (bin/cli-loader.js) is kept from run to run, as a user has it after the first run:
  // a compiled program, not data. `prepare` fills it.
  const codeCache = join(work, 'code-cache');
  const stowageHome = async () => ({ ...(await freshHome()), XDG_CACHE_HOME: codeCache });
  return {
    stowage: {
      prepare: async () => measure(node, [cli, 'version'], { cwd: work, env: await stowageHome(), useTime }),
      push: async (set, repository) =>
        measure(node, [cli, 'push', `${registry.host}/${repository}:v1`, ...set.files.map((file) => file.name), '--no-tty'], { cwd: set.dir, env: await stowageHome(), useTime }),
      pull: async (set, repository, out) => measure(node, [cli, 'pull', `${registry.host}/${repository}:v1`, '-o', out, '--no-tty'], { cwd: work, env: await stowageHome(), useTime }),
    },
    oras: {
      push: async (set, repository) =>
        measure(orasPath(), ['push', '--plain-http', '--no-tty', `${registry.host}/${repository}:v1`, ...set.files.map((file) => file.name)], { cwd: set.dir, env: await freshHome(), useTime }),
      pull: async (set, repository, out) => measure(orasPath(), ['pull', '--plain-http', '--no-tty', '-o', out, `${registry.host}/${repository}:v1`], { cwd: work, env: await freshHome(), useTime }),
    },
    'node-floor': {
      /** Only for sets of small files: it reads each file whole. */
      applies: (set) => set.files.every((file) => file.size <= 64 * mebibyte),
      push: async (set, repository) => measure(node, [join(root, 'bench/node-floor.js'), 'push', registry.url, repository, ...set.files.map((file) => file.name)], { cwd: set.dir, env: baseEnv, useTime }),
      pull: async (set, repository, out) => measure(node, [join(root, 'bench/node-floor.js'), 'pull', registry.url, repository, out], { cwd: work, env: baseEnv, useTime }),
    },
    curl: {
      push: async (set, repository) => measure('sh', [join(work, 'curl-push.sh'), registry.url, repository, set.list], { cwd: set.dir, env: baseEnv, useTime }),
      pull: async (set, repository, out) => {
        const args = ['-sS', '-f'];
        for (const file of set.files) args.push('-o', join(out, file.name), `${registry.url}/v2/${repository}/blobs/${file.digest}`);
        return measure('curl', args, { cwd: work, env: baseEnv, useTime });
      },
    },
  };
}

/** Checks a push landed: the tag (stowage, oras) or every blob (curl). */
async function checkPushed(registry, tool, set, repository) {
  if (tool === 'curl') {
    for (const file of set.files) {
      const status = await head(`${registry.url}/v2/${repository}/blobs/${file.digest}`);
      if (status !== 200) throw new Error(`curl push to ${repository}: blob ${file.digest} answers ${status}`);
    }
    return;
  }
  const status = await head(`${registry.url}/v2/${repository}/manifests/v1`);
  if (status !== 200) throw new Error(`${tool} push to ${repository}: the tag answers ${status}`);
}

/** Checks a pull wrote every file with its size. */
async function checkPulled(tool, set, out) {
  for (const file of set.files) {
    const info = await stat(join(out, file.name)).catch(() => undefined);
    if (info?.size !== file.size) throw new Error(`${tool} pull: ${file.name} is ${info?.size ?? 'missing'}, expected ${file.size} bytes`);
  }
}

// -------------------------------------------------------------------------------------------------- main

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!existsSync(join(root, 'dist/cli-script.js'))) throw new Error('dist/ is missing: run "npm run build" (npm run bench does)');
  const useTime = existsSync(timeBinary);
  const work = await mkdtemp(join(options.tmp, 'stowage-bench-'));
  let registry;
  const cleanup = async () => {
    await registry?.stop();
    await rm(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    void cleanup().finally(() => process.exit(130));
  });
  const loadBefore = loadavg()[0];
  try {
    log(`work directory ${work}; peak memory from ${useTime ? '/usr/bin/time' : '/proc/<pid>/status VmHWM samples'}`);
    await writeFile(join(work, 'curl-push.sh'), curlPushScript);

    const sets = [];
    const addSet = async (label, name, files) => {
      const dir = join(work, name);
      await mkdir(dir, { recursive: true });
      const described = [];
      for (const file of files) described.push({ name: file.name, size: file.size, digest: await writeRandomFile(join(dir, file.name), file.size) });
      const set = fileSet(label, dir, described);
      set.list = join(work, `${name}.list`);
      await writeFile(set.list, described.map((file) => `${file.digest} ${file.name}\n`).join(''));
      sets.push(set);
    };
    log(`creating the data: ${formatSize(options.size)} and ${options.files} x 1 MiB${options.big ? ', and 4 GiB' : ''}`);
    await addSet(formatSize(options.size), 'one', [{ name: 'big.bin', size: options.size }]);
    await addSet(`${options.files} x 1 MiB`, 'many', Array.from({ length: options.files }, (_, i) => ({ name: `file-${String(i).padStart(3, '0')}.bin`, size: mebibyte })));
    if (options.big) await addSet('4 GiB', 'huge', [{ name: 'huge.bin', size: 4 * gibibyte }]);

    registry = await startRegistry({ parent: work });
    log(`registry at ${registry.url}`);
    const tools = toolCommands(registry, work, useTime);
    for (const tool of options.tools) await tools[tool].prepare?.();
    const results = [];
    let repositories = 0;

    for (const set of sets) {
      await warm(set.files.map((file) => join(set.dir, file.name)));
      // The artifact every pull reads, pushed once by oras (curl pulls its blobs by digest).
      const source = `bench/source-${++repositories}`;
      await tools.oras.push(set, source);
      const setTools = options.tools.filter((tool) => tools[tool].applies?.(set) ?? true);
      for (const kind of ['push', 'pull']) {
        const samples = Object.fromEntries(setTools.map((tool) => [tool, []]));
        for (let run = 0; run < options.runs; run++) {
          const order = setTools.map((_, i) => setTools[(i + run) % setTools.length]);
          for (const tool of order) {
            let sample;
            if (kind === 'push') {
              const repository = `bench/${tool}-${++repositories}`;
              sample = await tools[tool].push(set, repository);
              await checkPushed(registry, tool, set, repository);
            } else {
              const out = join(work, 'out', `${tool}-${run}`);
              await mkdir(out, { recursive: true });
              sample = await tools[tool].pull(set, source, out);
              await checkPulled(tool, set, out);
              await rm(out, { recursive: true, force: true });
            }
            samples[tool].push(sample);
            const cpu = sample.userSeconds === undefined ? '' : ` (CPU ${sample.userSeconds.toFixed(2)} s user, ${sample.systemSeconds.toFixed(2)} s system)`;
            log(`${kind} ${set.label}, run ${run + 1}/${options.runs}, ${tool}: ${sample.seconds.toFixed(2)} s, ${sample.rssKiB === undefined ? '?' : Math.round(sample.rssKiB / 1024)} MiB${cpu}`);
          }
        }
        for (const tool of setTools) {
          const seconds = samples[tool].map((sample) => sample.seconds);
          const rss = samples[tool].map((sample) => sample.rssKiB).filter((value) => value !== undefined);
          const cpu = samples[tool].every((sample) => sample.userSeconds !== undefined)
            ? { userSeconds: samples[tool].map((sample) => sample.userSeconds), systemSeconds: samples[tool].map((sample) => sample.systemSeconds) }
            : {};
          results.push({ scenario: `${kind} ${set.label}`, tool, seconds, median: median(seconds), peakRssMiB: rss.length === 0 ? undefined : Math.max(...rss) / 1024, ...cpu });
        }
      }
    }

    const load = { before: loadBefore, after: loadavg()[0] };
    process.stdout.write(report(results, options, useTime, load));
    if (options.json !== undefined) await writeFile(options.json, `${JSON.stringify({ machine: machine(), load, options, results }, null, 2)}\n`);
  } finally {
    await cleanup();
  }
}

function machine() {
  let distro = 'Linux';
  try {
    distro = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? distro;
  } catch {
    // Not Linux, or no os-release.
  }
  let tree = 'unknown';
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const changed = execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).split('\n').filter((line) => line !== '').length;
    tree = changed === 0 ? commit : `${commit} + ${changed} uncommitted changes`;
  } catch {
    // Not a git checkout.
  }
  return {
    date: new Date().toISOString().slice(0, 10),
    cpu: `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores`,
    memory: `${Math.round(totalmem() / gibibyte)} GiB RAM`,
    os: `${distro}, Linux ${release()}`,
    node: process.version,
    oras: firstLine(orasPath(), ['version']).replace(/^Version:\s*/, ''),
    curl: firstLine('curl', ['--version']).split(' ').slice(0, 2).join(' '),
    registry: firstLine('/usr/bin/docker-registry', ['--version']).split(' ').slice(-1)[0] ?? 'unknown',
    tree,
  };
}

function report(results, options, useTime, load) {
  const info = machine();
  const ratio = (value, base) => (base === undefined ? '' : `${(value / base).toFixed(2)}x`);
  const lines = [
    '',
    `${info.date}: ${info.cpu}, ${info.memory}, ${info.os}, Node ${info.node}; oras ${info.oras}, ${info.curl}, docker-registry ${info.registry}; stowage at ${info.tree}.`,
    `Medians of ${options.runs} alternating runs, loopback, warm page cache, \`sync\` before each run; peak memory is the largest RSS high-water mark of the runs (${useTime ? '/usr/bin/time' : 'sampled VmHWM'}); 1-minute load average ${load.before.toFixed(2)} before, ${load.after.toFixed(2)} after.`,
    '',
    '| scenario | tool | median (s) | runs (s) | vs curl | vs oras | peak RSS (MiB) |',
    '| --- | --- | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const result of results) {
    const curl = results.find((other) => other.scenario === result.scenario && other.tool === 'curl');
    const oras = results.find((other) => other.scenario === result.scenario && other.tool === 'oras');
    lines.push(
      `| ${result.scenario} | ${result.tool} | ${result.median.toFixed(2)} | ${result.seconds.map((value) => value.toFixed(2)).join(', ')} | ${result.tool === 'curl' ? '' : ratio(result.median, curl?.median)} | ${result.tool === 'oras' ? '' : ratio(result.median, oras?.median)} | ${result.peakRssMiB === undefined ? '?' : Math.round(result.peakRssMiB)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

main().catch((error) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
