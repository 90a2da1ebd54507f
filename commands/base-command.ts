/**
 * What every command shares: an AbortSignal that Ctrl-C (exit 130) and SIGTERM (exit 143) fire, one table from error codes to
 * exit codes, one-line errors (`Error: <what>: <why>`, stack only with --debug), and stdout/stderr helpers.
 */
import { Command, Flags, type Interfaces } from '@oclif/core';
import { isStowageError, StowageError, type ErrorCode } from '../src/index.js';
import { splitInlineTemplate } from './flags/template.js';
import { ConfirmationRequired, forceHint } from './ui/descriptor-output.js';
import { GoTemplate } from './ui/go-template.js';

// oclif's own FlagOutput and ArgOutput ({[name: string]: any}), which it does not export.
type FlagOutput = Interfaces.OutputFlags<Interfaces.FlagInput>;
type ArgOutput = Interfaces.OutputArgs<Interfaces.ArgInput>;

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
  /** The template of `--format go-template`, set by {@link parse}. */
  private template: GoTemplate | undefined;
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
    this.argv = splitInlineTemplate(this.argv);
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

  /**
   * Parses flags and arguments, and checks `--format go-template` with `--template` as ORAS does. A go-template is parsed here, before any work, and `format` becomes `json`: the command builds the
   * document of `--format json` and {@link outJson} renders it through the template.
   * @throws StowageError INVALID_ARGUMENT for a template without go-template, go-template without a template, or a bad template.
   */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv);
    const flags: Record<string, unknown> = parsed.flags;
    const { format, template } = flags;
    if (format === 'go-template') {
      if (typeof template !== 'string' || template === '') {
        throw new StowageError('INVALID_ARGUMENT', '--format go-template needs a template: --template TEMPLATE, or --format go-template=TEMPLATE');
      }
      this.template = GoTemplate.parse(template);
      flags.format = 'json';
    } else if (template !== undefined) {
      throw new StowageError('INVALID_ARGUMENT', '--template must be used with --format go-template');
    }
    return parsed;
  }

  /** Writes one JSON document to stdout; with `--format go-template`, the document rendered through the template, as it is. */
  protected outJson(value: unknown): void {
    if (this.template !== undefined) {
      process.stdout.write(this.template.execute(value));
      return;
    }
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
      if (error instanceof ConfirmationRequired) hint = forceHint;
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
