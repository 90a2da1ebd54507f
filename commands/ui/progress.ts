/**
 * Copy hooks rendered as progress on stderr. While blobs move, an ora spinner shows a headline (blobs
 * active, bytes, speed) and a line per blob in flight (digest, name or media type, bytes/total, speed,
 * state); each blob that finishes (done, skipped, mounted) is printed as a line that stays; `finish()`
 * prints a summary. The text is rebuilt on a timer, not per chunk. Shown only on a TTY, never with
 * --no-tty or --format json, and without colour under NO_COLOR.
 *
 * {@link ProgressModel} holds the state and formats lines with no I/O and an injected clock, so it can be
 * tested with fake hooks; {@link Progress} draws it.
 */
import { clearLine, cursorTo, moveCursor, type Direction } from 'node:readline';
import { Writable } from 'node:stream';
import { Chalk, chalkStderr, type ChalkInstance } from 'chalk';
import ora, { type Ora } from 'ora';
import { Annotation, type CopyHooks, type Descriptor, type FileTransfer, type PushArtifactHooks } from '../../src/index.js';
import { formatBytes, nodeLabel, shortDigest } from './format.js';

/** The words for one kind of transfer. */
export interface ProgressVerbs {
  /** `Uploading` for push, `Downloading` for pull, `Copying` for copy. */
  active: string;
  /** `Uploaded`, `Downloaded`, `Copied`. */
  done: string;
}

/** Where progress is drawn: a terminal (process.stderr), or a fake one in tests. */
export interface Terminal {
  write(text: string): boolean;
  isTTY?: boolean;
  /** Width in columns; 0 or missing means unknown (a pty without a size). */
  columns?: number;
  rows?: number;
}

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

/** `0.4 s`, `12 s`, `3m 05s`. */
export function formatDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}m ${String(whole % 60).padStart(2, '0')}s`;
}

/** Below this many bytes a blob's own speed says nothing (request latency dominates): not shown. */
const minimumRateBytes = 1024 * 1024;

/** `360 MiB/s`; empty when no time has passed. */
export function formatRate(bytes: number, ms: number): string {
  if (ms <= 0 || bytes <= 0) return '';
  return `${formatBytes(Math.round((bytes * 1000) / ms))}/s`;
}

/** How a node ended up in the destination. */
export type FinishedState = 'done' | 'skipped' | 'mounted';

interface Entry {
  desc: Descriptor;
  /** Bytes of the node in the destination so far (from the resume offset on). */
  transferred: number;
  /** Bytes the destination kept from an earlier interrupted transfer. */
  resumedAt: number;
  startedAt: number;
}

/** A node that has finished, as one line shows it. */
export interface Finished {
  desc: Descriptor;
  state: FinishedState;
  /** Milliseconds the transfer took (done only). */
  durationMs: number;
  /** Bytes moved by this run (done only: the size less what was resumed). */
  moved: number;
  resumedAt: number;
  /** The repository a mounted blob came from. */
  from?: string;
}

const stateWidth = 11;

/**
 * The progress of one copy, from its hooks: which nodes are in flight and how far, which finished and how,
 * and the text for each. No I/O; time comes from `now`.
 */
export class ProgressModel {
  private readonly verbs: ProgressVerbs;
  private readonly now: () => number;
  private readonly color: ChalkInstance;
  private readonly active = new Map<string, Entry>();
  private readonly finished: Finished[] = [];
  private firstEventAt: number | undefined;

  constructor(verbs: ProgressVerbs, options: { now?: () => number; color?: ChalkInstance } = {}) {
    this.verbs = verbs;
    this.now = options.now ?? (() => performance.now());
    this.color = options.color ?? new Chalk({ level: 0 });
  }

  /** Nodes in flight. */
  get activeCount(): number {
    return this.active.size;
  }

  start(desc: Descriptor): void {
    const now = this.mark();
    this.active.set(keyOf(desc), { desc, transferred: 0, resumedAt: 0, startedAt: now });
  }

  resumed(desc: Descriptor, offset: number): void {
    const entry = this.active.get(keyOf(desc));
    if (entry === undefined) return;
    entry.resumedAt = offset;
    entry.transferred = Math.max(entry.transferred, offset);
  }

  progress(desc: Descriptor, transferred: number): void {
    const entry = this.active.get(keyOf(desc));
    if (entry !== undefined) entry.transferred = transferred;
  }

  /** Records a node that is done and returns it, to be printed. */
  done(desc: Descriptor): Finished {
    const now = this.mark();
    const key = keyOf(desc);
    const entry = this.active.get(key);
    this.active.delete(key);
    const resumedAt = entry?.resumedAt ?? 0;
    return this.finish({ desc, state: 'done', durationMs: entry === undefined ? 0 : now - entry.startedAt, moved: desc.size - resumedAt, resumedAt });
  }

  /**
   * A node first known without its digest (a file hashed while it uploads) now has one: the entry in flight
   * under `pending` is the one of `desc` from now on.
   */
  identified(pending: Descriptor, desc: Descriptor): void {
    const entry = this.active.get(keyOf(pending));
    if (entry === undefined) return;
    this.active.delete(keyOf(pending));
    entry.desc = desc;
    this.active.set(keyOf(desc), entry);
  }

  skipped(desc: Descriptor): Finished {
    this.active.delete(keyOf(desc));
    this.mark();
    return this.finish({ desc, state: 'skipped', durationMs: 0, moved: 0, resumedAt: 0 });
  }

  mounted(desc: Descriptor, from: string): Finished {
    this.mark();
    this.active.delete(keyOf(desc));
    return this.finish({ desc, state: 'mounted', durationMs: 0, moved: 0, resumedAt: 0, from });
  }

  /** The spinner's first line: blobs in flight, their bytes and speed together. */
  headline(): string {
    const now = this.now();
    let transferred = 0;
    let total = 0;
    let moved = 0;
    let since = now;
    for (const entry of this.active.values()) {
      transferred += entry.transferred;
      total += entry.desc.size;
      moved += entry.transferred - entry.resumedAt;
      since = Math.min(since, entry.startedAt);
    }
    const count = this.active.size;
    const rate = formatRate(moved, now - since);
    return `${this.verbs.active} ${count} ${count === 1 ? 'blob' : 'blobs'}: ${formatBytes(transferred)}/${formatBytes(total)}${rate === '' ? '' : `, ${rate}`}`;
  }

  /** One line per node in flight: digest, name, bytes/total, speed, state. */
  activeLines(width = 80): string[] {
    const now = this.now();
    return [...this.active.values()].map((entry) => {
      const moved = entry.transferred - entry.resumedAt;
      const rate = moved < minimumRateBytes ? '' : formatRate(moved, now - entry.startedAt);
      const detail = [`${formatBytes(entry.transferred)}/${formatBytes(entry.desc.size)}`, rate, entry.resumedAt > 0 ? `resumed at ${formatBytes(entry.resumedAt)}` : '']
        .filter((part) => part !== '')
        .join('  ');
      return this.line(' ', this.verbs.active, this.color.cyan, entry.desc, detail, width);
    });
  }

  /** The line that stays once a node has finished. */
  finishedLine(item: Finished, width = 80): string {
    const { desc } = item;
    switch (item.state) {
      case 'skipped':
        return this.line(this.color.dim('-'), 'Skipped', this.color.dim, desc, `${formatBytes(desc.size)}  exists`, width);
      case 'mounted':
        return this.line(this.color.green('✓'), 'Mounted', this.color.cyan, desc, `${formatBytes(desc.size)}  from ${item.from ?? ''}`, width);
      case 'done': {
        const parts = [formatBytes(desc.size), formatDuration(item.durationMs), item.moved < minimumRateBytes ? '' : formatRate(item.moved, item.durationMs)];
        if (item.resumedAt > 0) parts.push(`resumed at ${formatBytes(item.resumedAt)}`);
        return this.line(this.color.green('✓'), this.verbs.done, this.color.green, desc, parts.filter((part) => part !== '').join('  '), width);
      }
    }
  }

  /** `Uploaded 12 blobs, 1.20 GiB in 3.4 s (360 MiB/s); 3 skipped, 1 mounted`. */
  summary(): string {
    const elapsed = this.firstEventAt === undefined ? 0 : this.now() - this.firstEventAt;
    const done = this.finished.filter((item) => item.state === 'done');
    const size = done.reduce((sum, item) => sum + item.desc.size, 0);
    const moved = done.reduce((sum, item) => sum + item.moved, 0);
    const rate = formatRate(moved, elapsed);
    let text = `${this.verbs.done} ${done.length} ${done.length === 1 ? 'blob' : 'blobs'}, ${formatBytes(size)} in ${formatDuration(elapsed)}${rate === '' ? '' : ` (${rate})`}`;
    const extras: string[] = [];
    const skipped = this.finished.filter((item) => item.state === 'skipped').length;
    const mounted = this.finished.filter((item) => item.state === 'mounted').length;
    const resumed = done.filter((item) => item.resumedAt > 0).length;
    if (skipped > 0) extras.push(`${skipped} skipped`);
    if (mounted > 0) extras.push(`${mounted} mounted`);
    if (resumed > 0) extras.push(`${resumed} resumed`);
    if (extras.length > 0) text += `; ${extras.join(', ')}`;
    return text;
  }

  private line(symbol: string, state: string, paint: (text: string) => string, desc: Descriptor, detail: string, width: number): string {
    const fixed = 2 + stateWidth + 1 + 19 + 2 + 2 + detail.length;
    const label = truncate(nodeLabel(desc), Math.max(12, width - fixed - 1));
    return `${symbol} ${paint(state.padEnd(stateWidth))} ${this.color.dim(shortDigest(desc.digest))}  ${label}  ${detail}`;
  }

  private finish(item: Finished): Finished {
    this.finished.push(item);
    return item;
  }

  private mark(): number {
    const now = this.now();
    this.firstEventAt ??= now;
    return now;
  }
}

function keyOf(desc: Descriptor): string {
  return `${desc.digest} ${nodeLabel(desc)}`;
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** `text` cut to `width` characters (graphemes), with an ellipsis when cut. */
function truncate(text: string, width: number): string {
  const parts = Array.from(graphemes.segment(text), (part) => part.segment);
  return parts.length <= width ? text : `${parts.slice(0, width - 1).join('')}…`;
}

/**
 * What ora draws on: passes writes through to the terminal at once, and reports a usable width. A pty
 * without a size reports 0 columns, on which ora would count lines as Infinity and never stop clearing.
 */
class TerminalStream extends Writable {
  private readonly terminal: Terminal;
  readonly isTTY = true;

  constructor(terminal: Terminal) {
    super({ decodeStrings: false });
    this.terminal = terminal;
  }

  get columns(): number {
    return this.terminal.columns !== undefined && this.terminal.columns > 0 ? this.terminal.columns : 80;
  }

  get rows(): number {
    return this.terminal.rows !== undefined && this.terminal.rows > 0 ? this.terminal.rows : 24;
  }

  // What ora calls on a TTY stream (tty.WriteStream's cursor methods).
  cursorTo(x: number, y?: number): boolean {
    return cursorTo(this, x, y);
  }

  moveCursor(dx: number, dy: number): boolean {
    return moveCursor(this, dx, dy);
  }

  clearLine(direction: Direction): boolean {
    return clearLine(this, direction);
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.terminal.write(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
    callback();
  }
}

/** Draws a {@link ProgressModel} fed by copy hooks; see the module comment. */
export class Progress {
  private readonly model: ProgressModel | undefined;
  private readonly spinner: Ora | undefined;
  private readonly stream: TerminalStream | undefined;
  private readonly intervalMs: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;

  constructor(options: ProgressOptions) {
    this.intervalMs = options.intervalMs ?? 100;
    if (!options.enabled) return;
    const color = options.color ?? colorWanted();
    this.model = new ProgressModel(options.verbs, {
      ...(options.now === undefined ? {} : { now: options.now }),
      color: new Chalk({ level: color ? chalkStderr.level : 0 }),
    });
    this.stream = new TerminalStream(options.terminal ?? process.stderr);
    this.spinner = ora({ stream: this.stream, isEnabled: true, discardStdin: false, color: color ? 'cyan' : false, interval: this.intervalMs });
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
    if (this.spinner === undefined || this.stopped) return;
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
