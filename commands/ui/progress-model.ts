/**
 * The model of the progress display, with no I/O: which nodes of a copy are in flight and how far, which
 * finished and how (done, skipped, mounted), and the text of every line: bytes/total, speed, state, and
 * the summary at the end. Time comes from an injected clock and colour from an injected {@link Palette},
 * so it is tested with fake hooks; `progress.ts` draws it on a terminal.
 */
import type { Descriptor } from '../../src/index.js';
import { formatBytes, formatDuration, formatRate, nodeLabel, plainPalette, shortDigest, truncate, type Palette } from './format.js';


/** The words for one kind of transfer. */
export interface ProgressVerbs {
  /** `Uploading` for push, `Downloading` for pull, `Copying` for copy. */
  active: string;
  /** `Uploaded`, `Downloaded`, `Copied`. */
  done: string;
}

/** Below this many bytes a blob's own speed says nothing (request latency dominates): not shown. */
const minimumRateBytes = 1024 * 1024;

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
 * and the text for each. No I/O; time comes from `now` (default `performance.now`), colour from `color`
 * (default none).
 */
export class ProgressModel {
  private readonly verbs: ProgressVerbs;
  private readonly now: () => number;
  private readonly color: Palette;
  private readonly active = new Map<string, Entry>();
  private readonly finished: Finished[] = [];
  private firstEventAt: number | undefined;

  constructor(verbs: ProgressVerbs, options: { now?: () => number; color?: Palette } = {}) {
    this.verbs = verbs;
    this.now = options.now ?? (() => performance.now());
    this.color = options.color ?? plainPalette;
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

