/**
 * What every command shares: an AbortSignal that Ctrl-C (exit 130) and SIGTERM (exit 143) fire, one table from error codes to
 * exit codes, one-line errors (`Error: <what>: <why>`, stack only with --debug), and stdout/stderr helpers.
 */
import { Command, Flags } from '@oclif/core';
import { isStowageError, StowageError, type ErrorCode } from '../src/index.js';

/** Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). */
export const ExitCode = { success: 0, failure: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

const exitCodeOf: Partial<Record<ErrorCode, number>> = {
  INVALID_REFERENCE: ExitCode.usage,
  INVALID_ARGUMENT: ExitCode.usage,
  ABORTED: ExitCode.interrupted,
};

/** Hints printed under an error, where one helps. */
const hintOf: Partial<Record<ErrorCode, string>> = {
  UNAUTHORIZED: 'log in with "stowage login <registry>", or pass -u/--username and -p/--password',
  NETWORK: 'check the registry address; use --plain-http for a registry without TLS',
  PATH_TRAVERSAL: 'pass --allow-path-traversal (-T) if the artifact is trusted',
  FILE_EXISTS: 'remove the file, or drop --keep-old-files to overwrite it',
};

function oclifExitCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const oclif = (error as { oclif?: unknown }).oclif;
  if (typeof oclif !== 'object' || oclif === null) return undefined;
  const exit = (oclif as { exit?: unknown }).exit;
  return typeof exit === 'number' ? exit : undefined;
}

export abstract class BaseCommand extends Command {
  static override baseFlags = {
    debug: Flags.boolean({ description: 'print debug output and stack traces', helpGroup: 'GLOBAL' }),
  };

  private readonly controller = new AbortController();
  private interrupts = 0;
  /** The exit code of the signal that stopped the command: 130 for SIGINT, 143 for SIGTERM. */
  private interruptedWith: number = ExitCode.interrupted;
  // SIGTERM (a CI job's timeout, `timeout`, `docker stop`) stops a transfer as Ctrl-C does, so that what
  // arrived is kept for the next run and temp files are removed; a second signal exits at once.
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.interrupts++;
    this.interruptedWith = signal === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted;
    if (this.interrupts > 1) process.exit(this.interruptedWith);
    this.controller.abort(new StowageError('ABORTED', signal === 'SIGTERM' ? 'terminated' : 'interrupted'));
  };

  /** Fires on Ctrl-C; pass it to every library call. */
  protected get signal(): AbortSignal {
    return this.controller.signal;
  }

  override async init(): Promise<void> {
    await super.init();
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  override async finally(error: Error | undefined): Promise<void> {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    await super.finally(error);
  }

  /** Writes a result line (or document) to stdout. */
  protected out(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Writes one JSON document to stdout. */
  protected outJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Writes a warning to stderr. */
  protected warnLine(text: string): void {
    process.stderr.write(`Warning: ${text}\n`);
  }

  protected get debugEnabled(): boolean {
    return this.argv.includes('--debug');
  }

  override catch(error: Error & { exitCode?: number }): Promise<void> {
    // A parse error means parse() ran; without this oclif warns "did not parse its arguments" in development.
    this.parsed = true;
    const oclifExit = oclifExitCode(error);
    // `this.exit()` and oclif's own exits travel as errors; let them through.
    if (oclifExit !== undefined && error.message.startsWith('EEXIT')) throw error;
    let code: number = ExitCode.failure;
    let message = error.message;
    let hint: string | undefined;
    if (isStowageError(error)) {
      code = exitCodeOf[error.code] ?? ExitCode.failure;
      hint = hintOf[error.code];
      // A TLS failure already says which flag fixes it (--ca-file, --insecure, --cert-file): no generic hint.
      if (error.code === 'NETWORK' && /--(ca-file|insecure|cert-file)\b/.test(error.message)) hint = undefined;
    } else if (oclifExit !== undefined) {
      // Flag and argument parsing errors.
      code = oclifExit === 1 ? ExitCode.usage : oclifExit;
      message = message.split('\n')[0] ?? message;
      hint = `see "${this.config.bin} ${this.id ?? ''} --help"`.replace(/ +--help/, ' --help');
    }
    if (this.controller.signal.aborted && this.interrupts > 0) code = this.interruptedWith;
    process.stderr.write(`Error: ${message.replace(/^Error: /, '')}\n`);
    if (hint !== undefined) process.stderr.write(`Hint: ${hint}\n`);
    if (this.debugEnabled) process.stderr.write(`${describeChain(error)}\n`);
    process.exitCode = code;
    return Promise.resolve();
  }
}

/** The stack of an error and of every cause under it. */
function describeChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 8; depth++) {
    parts.push(current instanceof Error ? (current.stack ?? current.message) : JSON.stringify(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current !== undefined) parts.push('Caused by:');
  }
  return parts.join('\n');
}
