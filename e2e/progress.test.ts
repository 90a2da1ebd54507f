/**
 * Progress as a user sees it: the built CLI run on a terminal (a pty from util-linux `script`) shows a line
 * per blob with its byte count and a summary, on stderr; `--no-tty` and `--format json` show none; and
 * without a terminal stderr stays empty on success.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueRepository, useRegistry } from '../test/helpers/registry-harness.js';
import { ok, stowage } from './helpers/cli.js';
import { patternBytes, workspace, type Workspace } from './helpers/fixtures.js';

const registry = useRegistry();
const root = fileURLToPath(new URL('../', import.meta.url));

let ws: Workspace;
let src: string;

beforeAll(async () => {
  ws = await workspace('progress');
  src = await ws.mkdir('src');
  await writeFile(`${src}/big.bin`, patternBytes(4 * 1024 * 1024, 21));
  await writeFile(`${src}/small.txt`, 'small\n');
});

afterAll(async () => {
  await ws.cleanup();
});

/** Quotes one argument for `sh`. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The environment of a user's shell (no test-runner markers), with the workspace's HOME and TMPDIR. */
function environment(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'TEST' || key.startsWith('VITEST') || key === 'NODE_ENV' || key === 'NO_COLOR' || key === 'CI') continue;
    env[key] = value;
  }
  return { ...env, TERM: 'xterm-256color', ...ws.env, ...extra };
}

/**
 * Runs `stowage <args>` on a pseudo-terminal (stdin, stdout and stderr are all the pty, as in an
 * interactive shell) and returns its exit code and everything the terminal received.
 */
function onTerminal(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const command = [process.execPath, `${root}bin/run.js`, ...args].map(shellQuote).join(' ');
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { cwd: src, env: environment(extraEnv), stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', (error) => {
      reject(new Error(`cannot run script (util-linux; "npm run test:setup" installs it): ${error.message}`));
    });
    child.on('close', (code) => {
      resolve({ code: code ?? -1, output });
    });
  });
}

/** The terminal's text without escape sequences; cursor moves and erases become line breaks. */
function screenLines(output: string): string[] {
  return (
    output
      // eslint-disable-next-line no-control-regex
      .replace(/\u001b\[[0-9;]*[AGK]/g, '\n')
      // eslint-disable-next-line no-control-regex
      .replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '')
      .split(/\r?\n|\r/)
      .map((line) => line.trimEnd())
      .filter((line) => line.trim() !== '')
  );
}

// eslint-disable-next-line no-control-regex
const colourCode = /\u001b\[[0-9;]*m/;

describe('progress on a terminal', () => {
  it('push: a line per blob with its size, and a summary; then the result', async () => {
    const reference = `${registry().host}/${uniqueRepository('e2e-progress')}:v1`;
    const result = await onTerminal(['push', reference, 'big.bin', 'small.txt'], { NO_COLOR: '1' });
    expect(result.code, result.output).toBe(0);
    const lines = screenLines(result.output);
    const context = lines.join('\n');
    expect(lines.some((line) => /^✓ Uploaded +sha256:[0-9a-f]{12} +big\.bin +4\.00 MiB +\d+\.\d s/.test(line)), context).toBe(true);
    expect(lines.some((line) => /^✓ Uploaded +sha256:[0-9a-f]{12} +small\.txt +6 B/.test(line)), context).toBe(true);
    expect(lines.some((line) => /^✓ Uploaded +sha256:[0-9a-f]{12} +application\/vnd\.oci\.image\.man/.test(line)), context).toBe(true);
    expect(lines.some((line) => /^Uploaded 4 blobs, 4\.00 MiB in \d+\.\d s/.test(line)), context).toBe(true);
    expect(lines.some((line) => line.startsWith(`Pushed [registry] ${reference}`)), context).toBe(true);
    expect(result.output).not.toMatch(colourCode);

    // Again: every blob is there already.
    const again = await onTerminal(['push', reference, 'big.bin', 'small.txt'], { NO_COLOR: '1' });
    expect(again.code, again.output).toBe(0);
    const againLines = screenLines(again.output);
    expect(againLines.some((line) => /^- Skipped +sha256:[0-9a-f]{12} +big\.bin +4\.00 MiB +exists$/.test(line)), againLines.join('\n')).toBe(true);
    expect(againLines.some((line) => /; 3 skipped$/.test(line)), againLines.join('\n')).toBe(true);
  });

  it('pull: a line per file with its size, and a summary', async () => {
    const reference = `${registry().host}/${uniqueRepository('e2e-progress-pull')}:v1`;
    ok(await stowage(['push', reference, 'big.bin', 'small.txt'], { cwd: src, env: ws.env }), 'push');
    const out = await ws.mkdir('pull-out');
    const result = await onTerminal(['pull', reference, '-o', out], { NO_COLOR: '1' });
    expect(result.code, result.output).toBe(0);
    const lines = screenLines(result.output);
    const context = lines.join('\n');
    expect(lines.some((line) => /^✓ Downloaded +sha256:[0-9a-f]{12} +big\.bin +4\.00 MiB/.test(line)), context).toBe(true);
    expect(lines.some((line) => /^Downloaded 3 blobs, 4\.00 MiB in /.test(line)), context).toBe(true);
    expect(lines.some((line) => line.startsWith(`Pulled [registry] ${reference}`)), context).toBe(true);
  });

  it('in colour unless NO_COLOR is set', async () => {
    const reference = `${registry().host}/${uniqueRepository('e2e-progress-colour')}:v1`;
    const coloured = await onTerminal(['push', reference, 'small.txt']);
    expect(coloured.code, coloured.output).toBe(0);
    expect(coloured.output).toMatch(colourCode);
  });

  it('--no-tty: no progress, only the result', async () => {
    const reference = `${registry().host}/${uniqueRepository('e2e-progress-notty')}:v1`;
    const result = await onTerminal(['push', reference, 'big.bin', 'small.txt', '--no-tty'], { NO_COLOR: '1' });
    expect(result.code, result.output).toBe(0);
    const lines = screenLines(result.output);
    expect(lines.map((line) => line.split(' ')[0]), lines.join('\n')).toEqual(['Pushed', 'ArtifactType:', 'Digest:']);

    const out = await ws.mkdir('notty-out');
    const pulled = await onTerminal(['pull', reference, '-o', out, '--no-tty'], { NO_COLOR: '1' });
    expect(pulled.code, pulled.output).toBe(0);
    expect(screenLines(pulled.output).map((line) => line.split(' ')[0])).toEqual(['Pulled', 'Digest:']);
  });

  it('--format json: one JSON document, no progress', async () => {
    const reference = `${registry().host}/${uniqueRepository('e2e-progress-json')}:v1`;
    const result = await onTerminal(['push', reference, 'big.bin', '--format', 'json'], { NO_COLOR: '1' });
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toContain('Uploaded');
    const document = JSON.parse(result.output.replace(/\r/g, '')) as { digest?: unknown };
    expect(document.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const out = await ws.mkdir('json-out');
    const pulled = await onTerminal(['pull', reference, '-o', out, '--format', 'json'], { NO_COLOR: '1' });
    expect(pulled.code, pulled.output).toBe(0);
    expect(pulled.output).not.toContain('Downloaded');
    expect(JSON.parse(pulled.output.replace(/\r/g, ''))).toHaveProperty('files');
  });
});

describe('without a terminal', () => {
  it('stderr stays empty on success', async () => {
    const reference = `${registry().host}/${uniqueRepository('e2e-progress-pipe')}:v1`;
    const pushed = ok(await stowage(['push', reference, 'big.bin', 'small.txt'], { cwd: src, env: ws.env }), 'push');
    expect(pushed.stderr).toBe('');
    expect(pushed.stdout).toContain('Pushed [registry]');
    const out = await ws.mkdir('pipe-out');
    const pulled = ok(await stowage(['pull', reference, '-o', out], { cwd: src, env: ws.env }), 'pull');
    expect(pulled.stderr).toBe('');
    expect(pulled.stdout).toContain('Pulled [registry]');
  });
});
