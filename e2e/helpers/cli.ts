/** Runs the built stowage CLI and the `oras` peer as a user would: child processes, exit codes, stdout, stderr. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface RunResult {
  /** The exit code; -1 when a signal ended the process. */
  code: number;
  /** The signal that ended the process, if one did (then the process did not exit by itself). */
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const stowageBin = `${root}bin/run.js`;

/** Where `oras` is: the copy `npm run test:setup` put in .tools/, else $PATH. */
export function orasPath(): string {
  const local = `${root}.tools/bin/oras`;
  return existsSync(local) ? local : 'oras';
}

/** A child process that is still running, and its result once it exits. */
export interface Running {
  child: ChildProcess;
  result: Promise<RunResult>;
}

/**
 * The environment of a user's shell: the test runner's own markers (NODE_ENV=test, TEST, VITEST*) are left
 * out, so the CLI behaves as it does for users; a test that wants one passes it in `env`.
 */
function userEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'TEST' || key.startsWith('VITEST') || (key === 'NODE_ENV' && value === 'test')) continue;
    env[key] = value;
  }
  return env;
}

function start(command: string, args: string[], options: RunOptions): Running {
  const child = spawn(command, args, {
    cwd: options.cwd ?? root,
    // NO_COLOR and no TTY: output as scripts see it.
    env: { ...userEnvironment(), NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const result = new Promise<RunResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => {
      reject(new Error(`cannot run ${command}: ${error.message}${command === 'oras' ? ' (run "npm run test:setup")' : ''}`));
    });
    child.on('close', (code, signal) => {
      resolve({ code: code ?? -1, signal, stdout, stderr });
    });
  });
  child.stdin.end(options.input ?? '');
  return { child, result };
}

function run(command: string, args: string[], options: RunOptions): Promise<RunResult> {
  return start(command, args, options).result;
}

/** Starts `stowage <args>` and returns at once: for tests that signal the process while it runs. */
export function startStowage(args: string[], options: RunOptions = {}): Running {
  if (!existsSync(`${root}dist/cli-script.js`)) throw new Error('dist/ is missing: run "npm run build" first');
  return start(process.execPath, [stowageBin, ...args], options);
}

/** Runs `stowage <args>` from the build in dist/ (npm test builds first). */
export function stowage(args: string[], options: RunOptions = {}): Promise<RunResult> {
  if (!existsSync(`${root}dist/cli-script.js`)) throw new Error('dist/ is missing: run "npm run build" first');
  return run(process.execPath, [stowageBin, ...args], options);
}

/** Runs `oras <args>` with a private config directory so no credentials leak in or out. */
export function oras(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(orasPath(), args, options);
}

/** Throws with everything the process printed when it did not exit 0. */
export function ok(result: RunResult, what: string): RunResult {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** Where a test's children run: a workspace's directory and its private environment. */
export interface RunPlace {
  dir: string;
  env: Record<string, string>;
}

/**
 * `stowage` and `oras` run in one place, for a test file whose workspace is made in `beforeAll`: `place()`
 * is asked at each run. `input` goes to the command's stdin.
 */
export function runIn(place: () => RunPlace): { stowage: (args: string[], input?: string) => Promise<RunResult>; oras: (args: string[], input?: string) => Promise<RunResult> } {
  const options = (input: string | undefined): RunOptions => ({ cwd: place().dir, env: place().env, ...(input === undefined ? {} : { input }) });
  return {
    stowage: (args, input) => stowage(args, options(input)),
    oras: (args, input) => oras(args, options(input)),
  };
}
