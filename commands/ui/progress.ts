/**
 * Copy hooks rendered as progress on stderr: a spinner with bytes so far, and a line per finished node.
 * Shown only on a TTY, never with --no-tty or --format json, and without colour under NO_COLOR.
 */
import chalk from 'chalk';
import ora, { type Ora } from 'ora';
import type { CopyHooks, Descriptor } from '../../src/index.js';
import { formatBytes, nodeLabel, shortDigest } from './format.js';

export interface ProgressOptions {
  /** `Uploading`/`Uploaded` for push, `Downloading`/`Downloaded` for pull, `Copying`/`Copied` for copy. */
  verbs: { active: string; done: string };
  enabled: boolean;
}

/** Decides whether progress is shown: stderr is a TTY, not --no-tty, text output. */
export function progressEnabled(flags: { 'no-tty'?: boolean | undefined; format?: string | undefined }): boolean {
  return process.stderr.isTTY && flags['no-tty'] !== true && (flags.format ?? 'text') === 'text';
}

export class Progress {
  private readonly spinner: Ora | undefined;
  private readonly active = new Map<string, { desc: Descriptor; transferred: number }>();
  private readonly verbs: ProgressOptions['verbs'];
  private bytesDone = 0;

  constructor(options: ProgressOptions) {
    this.verbs = options.verbs;
    this.spinner = options.enabled ? ora({ stream: process.stderr, discardStdin: false }) : undefined;
  }

  /** The hooks to pass to copy(). */
  hooks(): CopyHooks {
    if (!this.spinner) return {};
    return {
      onStart: (desc) => {
        this.active.set(desc.digest, { desc, transferred: 0 });
        this.render();
      },
      onProgress: (desc, transferred) => {
        const entry = this.active.get(desc.digest);
        if (entry) entry.transferred = transferred;
        this.render();
      },
      onSkipped: (desc) => {
        this.line(chalk.dim('Exists   '), desc);
      },
      onMounted: (desc, from) => {
        this.line(chalk.cyan('Mounted  '), desc, `from ${from}`);
      },
      onDone: (desc) => {
        this.active.delete(desc.digest);
        this.bytesDone += desc.size;
        this.line(chalk.green(this.verbs.done.padEnd(9)), desc);
      },
    };
  }

  private line(state: string, desc: Descriptor, extra = ''): void {
    if (!this.spinner) return;
    const text = `${state} ${shortDigest(desc.digest)} ${nodeLabel(desc)} ${formatBytes(desc.size)} ${extra}`.trimEnd();
    this.spinner.stopAndPersist({ symbol: chalk.green('✓'), text });
    this.render();
  }

  private render(): void {
    if (!this.spinner) return;
    if (this.active.size === 0) {
      this.spinner.stop();
      return;
    }
    const names = [...this.active.values()].map(({ desc, transferred }) => `${nodeLabel(desc)} ${formatBytes(transferred)}/${formatBytes(desc.size)}`);
    this.spinner.text = `${this.verbs.active} ${names.join(', ')}`;
    if (!this.spinner.isSpinning) this.spinner.start();
  }

  /** Stops the spinner (on success and on failure). */
  stop(): void {
    this.spinner?.stop();
  }
}
