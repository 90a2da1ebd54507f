/**
 * Runs a stowage command class in this process, as oclif would (flags, errors, exit code), capturing what it
 * writes to stdout and stderr; stdin can be given as bytes. Used by the manifest and blob command tests.
 */
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Config, type Command } from '@oclif/core';

const root = fileURLToPath(new URL('../../', import.meta.url));
let config: Promise<Config> | undefined;

export interface CommandResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8 text. */
  text: string;
}

type Writer = (chunk: unknown, ...rest: unknown[]) => boolean;

function capture(stream: NodeJS.WriteStream, sink: Buffer[]): () => void {
  const original = stream.write.bind(stream) as Writer;
  const replacement: Writer = (chunk, ...rest) => {
    sink.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk instanceof Uint8Array ? Buffer.from(chunk) : Buffer.from(String(chunk)));
    const callback = rest.find((item) => typeof item === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  };
  stream.write = replacement;
  return () => {
    stream.write = original;
  };
}

/** Runs `command` with `argv`; `stdin` replaces process.stdin for the run. */
export async function runCommand(command: { run(argv: string[], config: Config): Promise<unknown> } & typeof Command, argv: string[], stdin?: Uint8Array): Promise<CommandResult> {
  config ??= Config.load(root);
  const loaded = await config;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const restoreOut = capture(process.stdout, out);
  const restoreErr = capture(process.stderr, err);
  const stdinDescriptor = Object.getOwnPropertyDescriptor(process, 'stdin');
  if (stdin !== undefined) {
    const fake = Object.assign(Readable.from([Buffer.from(stdin)]), { isTTY: false });
    Object.defineProperty(process, 'stdin', { value: fake, configurable: true, writable: true });
  }
  process.exitCode = undefined;
  try {
    await command.run(argv, loaded);
  } finally {
    restoreOut();
    restoreErr();
    if (stdin !== undefined && stdinDescriptor !== undefined) Object.defineProperty(process, 'stdin', stdinDescriptor);
  }
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  process.exitCode = undefined;
  const stdout = Buffer.concat(out);
  return { code, stdout, stderr: Buffer.concat(err).toString('utf8'), text: stdout.toString('utf8') };
}
