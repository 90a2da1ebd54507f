/**
 * What the manifest and blob commands share: descriptor JSON as ORAS prints it, writing content to stdout
 * (with backpressure) or to a file by temp name and rename, reading stdin with a limit, and the delete prompt.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Flags } from '@oclif/core';
import { orderedDescriptor, readAll, StowageError, type Deleter, type Descriptor } from '../../src/index.js';
import { canPrompt, promptLine } from './prompt.js';

/** `--descriptor` and `--pretty`, as ORAS names them. */
export const descriptorFlags = {
  descriptor: Flags.boolean({ description: 'print the descriptor (JSON) instead of the content', helpGroup: 'OUTPUT' }),
  pretty: Flags.boolean({ description: 'indent JSON printed to stdout', helpGroup: 'OUTPUT' }),
};

/** A descriptor as ORAS prints it: compact without a final newline, or indented by two spaces with one. */
export function descriptorText(desc: Descriptor, pretty: boolean): string {
  const ordered = orderedDescriptor(desc);
  return pretty ? `${JSON.stringify(ordered, null, 2)}\n` : JSON.stringify(ordered);
}

/** Writes text or bytes to stdout as they are (no newline added). */
export async function writeStdout(content: string | Uint8Array): Promise<void> {
  if (!process.stdout.write(content)) await once(process.stdout, 'drain');
}

/** Streams `content` to stdout, waiting for it to drain; stdout stays open. */
export async function streamToStdout(content: Readable, signal?: AbortSignal): Promise<void> {
  for await (const chunk of content) {
    signal?.throwIfAborted();
    const bytes = chunk instanceof Uint8Array ? chunk : Buffer.from(String(chunk));
    if (!process.stdout.write(bytes)) await once(process.stdout, 'drain');
  }
}

/**
 * Writes `content` to `file` through a temp name beside it, renamed over `file` only once the whole content
 * arrived (a verified store stream fails instead of ending when the digest is wrong): a failure or Ctrl-C
 * leaves no partial file and the old one untouched.
 * @throws StowageError `IO`, and what the content stream fails with.
 */
export async function writeFileAtomically(file: string, content: Readable | Uint8Array, signal?: AbortSignal): Promise<void> {
  const temp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    const source: Readable | Iterable<Uint8Array> = content instanceof Uint8Array ? [content] : content;
    await pipeline(source, createWriteStream(temp, { flags: 'wx' }), signal === undefined ? {} : { signal });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    if (error instanceof StowageError) throw error;
    if (signal?.aborted === true) throw new StowageError('ABORTED', `write ${file}: interrupted`, { cause: error });
    throw new StowageError('IO', `write ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * Reads stdin into memory, at most `limit` bytes.
 * @throws StowageError `TOO_LARGE`.
 */
export async function readStdinBytes(limit: number, what: string, signal?: AbortSignal): Promise<Uint8Array> {
  try {
    return await readAll(signal === undefined ? process.stdin : addAbortSignal(signal, process.stdin), limit, what);
  } catch (error) {
    if (signal?.aborted === true) throw new StowageError('ABORTED', `${what}: interrupted`, { cause: error });
    throw error;
  }
}

/** Refused: a delete without --force where nobody can be asked. The delete commands print a hint under it. */
export class ConfirmationRequired extends StowageError {
  constructor(what: string) {
    super('INVALID_ARGUMENT', `${what}: confirmation required, and stdin is not a terminal to ask on`);
  }
}

/** The hint printed under a {@link ConfirmationRequired} error. */
export const forceHint = 'pass -f/--force to delete without confirmation';

/**
 * Asks `question` on the terminal ([y/N]); true for y or yes.
 * @throws ConfirmationRequired when stdin is not a terminal.
 */
export async function confirm(question: string, what: string, signal?: AbortSignal): Promise<boolean> {
  if (!canPrompt()) throw new ConfirmationRequired(what);
  const answer = await promptLine(`${question} [y/N] `, signal);
  return /^(y|yes)$/i.test(answer);
}

/**
 * The end of `manifest delete` and `blob delete`: a missing node is an error, or with `force` the line
 * `Missing <ref>`; otherwise asks (unless `force`), deletes, and prints the descriptor or `Deleted [kind] <ref>`.
 * @throws StowageError `NOT_FOUND` (missing, without force), ConfirmationRequired, and what the delete throws.
 */
export async function deleteConfirmed(
  target: Deleter,
  desc: Descriptor | undefined,
  options: { noun: 'manifest' | 'blob'; question: string; kind: string; shown: string; force: boolean; descriptor: boolean; pretty: boolean; out: (text: string) => void; signal: AbortSignal },
): Promise<void> {
  const { noun, shown, out, signal } = options;
  if (desc === undefined) {
    if (!options.force) throw new StowageError('NOT_FOUND', `delete ${noun === 'blob' ? 'blob ' : ''}${shown}: the ${noun} does not exist`);
    out(`Missing ${shown}`);
    return;
  }
  if (!options.force && !(await confirm(options.question, `delete ${noun} ${shown}`, signal))) {
    out('Operation cancelled.');
    return;
  }
  await target.delete(desc, { signal });
  if (options.descriptor) {
    await writeStdout(descriptorText(desc, options.pretty));
    return;
  }
  out(`Deleted [${options.kind}] ${shown}`);
}
