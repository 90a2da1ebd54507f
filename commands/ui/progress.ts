/**
 * Copy hooks rendered as progress on stderr. While blobs move, an ora spinner shows a headline (blobs
 * active, bytes, speed) and a line per blob in flight (digest, name or media type, bytes/total, speed,
 * state); each blob that finishes (done, skipped, mounted) is printed as a line that stays; `finish()`
 * prints a summary. The text is rebuilt on a timer, not per chunk. Shown only on a TTY, never with
 * --no-tty or --format json, and without colour under NO_COLOR.
 *
 * {@link ProgressModel} (`progress-model.ts`) holds the state and formats the lines; {@link Progress} draws
 * them. ora is loaded only when a Progress is enabled, and the spinner starts once it is there: a run
 * without progress (no TTY, --no-tty, --format json) never pays for loading it.
 */
import { Chalk, chalkStderr } from 'chalk';
import type { Ora } from 'ora';
import { Annotation, type CopyHooks, type Descriptor, type FileTransfer, type PushArtifactHooks } from '../../src/index.js';
import { ProgressModel, type ProgressVerbs } from './progress-model.js';
import { TerminalStream, type Terminal } from './terminal-stream.js';

export type { Terminal } from './terminal-stream.js';

export interface ProgressOptions {
  verbs: ProgressVerbs;
  /** Draw anything at all; see {@link progressEnabled}. */
  enabled: boolean;
  /** Default: process.stderr. */
  terminal?: Terminal;
  /** Default: true unless NO_COLOR is set (and not empty). */
  color?: boolean;
  /** Milliseconds; default `performance.now`. */
  now?: () => number;
  /** How often the lines of blobs in flight are rebuilt, in milliseconds; default 100. */
  intervalMs?: number;
}

/** True unless `NO_COLOR` is set to a non-empty value (https://no-color.org). */
export function colorWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const noColor = env.NO_COLOR;
  return noColor === undefined || noColor === '';
}

/** Decides whether progress is shown: stderr is a TTY (and not a dumb one), not --no-tty, text output. */
export function progressEnabled(
  flags: { 'no-tty'?: boolean | undefined; format?: string | undefined },
  terminal: Terminal = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return terminal.isTTY === true && env.TERM !== 'dumb' && flags['no-tty'] !== true && (flags.format ?? 'text') === 'text';
}

/** Draws a {@link ProgressModel} fed by copy hooks; see the module comment. */
export class Progress {
  private readonly model: ProgressModel | undefined;
  private readonly stream: TerminalStream | undefined;
  private readonly intervalMs: number;
  private readonly loading: Promise<void>;
  private spinner: Ora | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(options: ProgressOptions) {
    this.intervalMs = options.intervalMs ?? 100;
    if (!options.enabled) {
      this.loading = Promise.resolve();
      return;
    }
    const color = options.color ?? colorWanted();
    this.model = new ProgressModel(options.verbs, {
      ...(options.now === undefined ? {} : { now: options.now }),
      color: new Chalk({ level: color ? chalkStderr.level : 0 }),
    });
    const stream = new TerminalStream(options.terminal ?? process.stderr);
    this.stream = stream;
    this.loading = import('ora').then(
      ({ default: ora }) => {
        if (this.stopped) return;
        this.spinner = ora({ stream, isEnabled: true, discardStdin: false, color: color ? 'cyan' : false, interval: this.intervalMs });
        this.redraw();
      },
      () => {
        // Without ora there is no spinner; the lines that stay and the summary are printed all the same.
      },
    );
  }

  /** Resolves once the spinner can draw the blobs in flight (lines that stay never wait for it). */
  ready(): Promise<void> {
    return this.loading;
  }

  /** The hooks to pass to copy(); none when progress is off. */
  hooks(): CopyHooks {
    const model = this.model;
    if (model === undefined) return {};
    return {
      onStart: (desc) => {
        model.start(desc);
        this.redraw();
      },
      // Only numbers change per chunk; the text is rebuilt on the timer.
      onProgress: (desc, transferred) => {
        model.progress(desc, transferred);
      },
      onResumed: (desc, offset) => {
        model.resumed(desc, offset);
      },
      onSkipped: (desc) => {
        this.persist(model.finishedLine(model.skipped(desc), this.width()));
      },
      onMounted: (desc, from) => {
        this.persist(model.finishedLine(model.mounted(desc, from), this.width()));
      },
      onDone: (desc) => {
        this.persist(model.finishedLine(model.done(desc), this.width()));
      },
    };
  }

  /**
   * The hooks for files a push uploads in one pass (their digest is known only once they are up): shown
   * under their name, then as uploaded, resumed or skipped like the other nodes. None when progress is off.
   */
  fileHooks(): Pick<PushArtifactHooks, 'onFileStart' | 'onFileProgress' | 'onFileDone'> {
    const model = this.model;
    if (model === undefined) return {};
    const pending = (file: FileTransfer): Descriptor => ({ mediaType: '', digest: '', size: file.size, annotations: { [Annotation.title]: file.title } });
    return {
      onFileStart: (file) => {
        model.start(pending(file));
        this.redraw();
      },
      onFileProgress: (file, transferred) => {
        model.progress(pending(file), transferred);
      },
      onFileDone: (file, desc, result) => {
        const named: Descriptor = { ...desc, annotations: { ...desc.annotations, [Annotation.title]: file.title } };
        model.identified(pending(file), named);
        if (result.outcome === 'exists') {
          this.persist(model.finishedLine(model.skipped(named), this.width()));
          return;
        }
        if (result.resumedFrom > 0) model.resumed(named, result.resumedFrom);
        this.persist(model.finishedLine(model.done(named), this.width()));
      },
    };
  }

  /** After a successful copy: stops the spinner and prints the summary line. */
  finish(): void {
    if (this.model === undefined || this.stopped) return;
    const summary = this.model.summary();
    this.stop();
    this.stream?.write(`${summary}\n`);
  }

  /** Stops the spinner, keeping the lines printed so far (on success and on failure); idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopTimer();
    this.spinner?.stop();
  }

  private width(): number {
    return this.stream?.columns ?? 80;
  }

  private persist(line: string): void {
    if (this.stream === undefined || this.stopped) return;
    if (this.spinner === undefined) {
      // ora not loaded yet: nothing is drawn below, so the line goes straight out.
      this.stream.write(`${line}\n`);
      return;
    }
    this.spinner.stopAndPersist({ symbol: '', text: line });
    this.redraw();
  }

  /** Shows the blobs in flight (starting the spinner and timer), or stops both when there are none. */
  private redraw(): void {
    const { spinner, model } = this;
    if (spinner === undefined || model === undefined || this.stopped) return;
    if (model.activeCount === 0) {
      this.stopTimer();
      spinner.stop();
      return;
    }
    spinner.text = this.text(model);
    if (!spinner.isSpinning) spinner.start();
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        spinner.text = this.text(model);
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  private text(model: ProgressModel): string {
    return [model.headline(), ...model.activeLines(this.width())].join('\n');
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
