/**
 * The progress renderer on a fake terminal: lines that stay, the summary, the spinner once ora is loaded,
 * nothing drawn per chunk, nothing at all when disabled; and when progress is shown at all. The model's
 * lines are tested in progress-model.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ProgressModel } from '../../../commands/ui/progress-model.js';
import { Progress, colorWanted, progressEnabled, type Terminal } from '../../../commands/ui/progress.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { blob, fakeClock, mebibyte, upload } from '../../helpers/progress-fixtures.js';

/** Text without ANSI escape sequences; cursor moves and erases become line breaks, so each drawn line stands alone. */
function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*[AGK]/g, '\n').replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
}

describe('when progress is shown', () => {
  it('progress only on a TTY, never with --no-tty or --format json, nor on a dumb terminal', () => {
    const tty: Terminal = { write: () => true, isTTY: true };
    const pipe: Terminal = { write: () => true };
    expect(progressEnabled({}, tty, {})).toBe(true);
    expect(progressEnabled({ format: 'text' }, tty, {})).toBe(true);
    expect(progressEnabled({}, pipe, {})).toBe(false);
    expect(progressEnabled({ 'no-tty': true }, tty, {})).toBe(false);
    expect(progressEnabled({ format: 'json' }, tty, {})).toBe(false);
    expect(progressEnabled({}, tty, { TERM: 'dumb' })).toBe(false);
  });

  it('colour unless NO_COLOR is set to something', () => {
    expect(colorWanted({})).toBe(true);
    expect(colorWanted({ NO_COLOR: '' })).toBe(true);
    expect(colorWanted({ NO_COLOR: '1' })).toBe(false);
  });
});

describe('Progress on a terminal', () => {
  let progress: Progress | undefined;
  afterEach(() => {
    progress?.stop();
    progress = undefined;
  });

  function terminal(columns = 0): Terminal & { output: () => string; writes: () => number } {
    const chunks: string[] = [];
    return {
      isTTY: true,
      columns,
      rows: 0,
      write: (text) => {
        chunks.push(text);
        return true;
      },
      output: () => chunks.join(''),
      writes: () => chunks.length,
    };
  }

  it('prints a line per finished blob and the summary; per-chunk progress draws nothing by itself', async () => {
    const clock = fakeClock();
    const tty = terminal();
    progress = new Progress({ verbs: upload, enabled: true, terminal: tty, color: false, now: clock.now, intervalMs: 60_000 });
    await progress.ready();
    const hooks = progress.hooks();
    const big = blob('model.bin', 64 * mebibyte);
    const config = blob(undefined, 2, MediaType.ociEmpty);
    hooks.onSkipped?.(config);
    hooks.onStart?.(big);
    const before = tty.writes();
    for (let sent = mebibyte; sent <= big.size; sent += mebibyte) hooks.onProgress?.(big, sent);
    expect(tty.writes()).toBe(before);
    clock.advance(500);
    hooks.onDone?.(big);
    progress.finish();
    const lines = plain(tty.output()).split('\n').map((line) => line.trim()).filter((line) => line !== '');
    // A terminal of unknown width (a pty without a size) counts as 80 columns: the media type is cut to fit.
    expect(lines).toContain(`- Skipped     ${config.digest.slice(0, 19)}  application/vnd.oci.empty.v1+j…  2 B  exists`);
    expect(lines.some((line) => /^✓ Uploaded +sha256:[0-9a-f]{12} +model\.bin +64\.0 MiB +0\.5 s +128 MiB\/s$/.test(line))).toBe(true);
    expect(lines.at(-1)).toBe('Uploaded 1 blob, 64.0 MiB in 0.5 s (128 MiB/s); 1 skipped');
    // The spinner showed the blob in flight while it moved.
    expect(plain(tty.output())).toMatch(/Uploading 1 blob: 0 B\/64\.0 MiB/);
    // No colour was asked for.
    // eslint-disable-next-line no-control-regex
    expect(tty.output()).not.toMatch(/\u001b\[[0-9;]*m/);
  });

  it('with colour, states are coloured', () => {
    const tty = terminal(120);
    progress = new Progress({ verbs: upload, enabled: true, terminal: tty, color: true, intervalMs: 60_000 });
    const model = new ProgressModel(upload);
    expect(model.finishedLine(model.skipped(blob('a', 1)))).not.toContain('\u001b[');
    progress.hooks().onSkipped?.(blob('a', 1));
    progress.finish();
    // Chalk follows the real stderr's support; under the test runner that is none, so only assert the text.
    expect(plain(tty.output())).toContain('Skipped');
  });

  it('disabled: no hooks, nothing written', () => {
    const tty = terminal();
    progress = new Progress({ verbs: upload, enabled: false, terminal: tty });
    expect(progress.hooks()).toEqual({});
    progress.finish();
    progress.stop();
    expect(tty.output()).toBe('');
  });

  it('stop after a failure keeps the lines printed so far and prints no summary', () => {
    const tty = terminal(100);
    progress = new Progress({ verbs: upload, enabled: true, terminal: tty, color: false, intervalMs: 60_000 });
    const hooks = progress.hooks();
    const a = blob('a.bin', 10);
    const b = blob('b.bin', 10 * mebibyte);
    hooks.onStart?.(a);
    hooks.onStart?.(b);
    hooks.onDone?.(a);
    progress.stop();
    progress.finish();
    const text = plain(tty.output());
    expect(text).toMatch(/✓ Uploaded +sha256:[0-9a-f]{12} +a\.bin/);
    expect(text).not.toContain('Uploaded 1 blob');
  });

  it('before ora is loaded: lines that stay and the summary go straight out, and no spinner is drawn after a finish', async () => {
    const clock = fakeClock();
    const tty = terminal(100);
    progress = new Progress({ verbs: upload, enabled: true, terminal: tty, color: false, now: clock.now, intervalMs: 60_000 });
    const hooks = progress.hooks();
    const a = blob('a.bin', 10);
    hooks.onStart?.(a);
    clock.advance(200);
    hooks.onDone?.(a);
    progress.finish();
    const printed = tty.output();
    expect(printed).toMatch(/^✓ Uploaded +sha256:[0-9a-f]{12} +a\.bin +10 B +0\.2 s\n/);
    expect(printed.endsWith('Uploaded 1 blob, 10 B in 0.2 s (50 B/s)\n')).toBe(true);
    await progress.ready();
    expect(tty.output()).toBe(printed);
  });

  it('the spinner starts for blobs already in flight once ora is there', async () => {
    const tty = terminal(100);
    progress = new Progress({ verbs: upload, enabled: true, terminal: tty, color: false, intervalMs: 60_000 });
    progress.hooks().onStart?.(blob('slow.bin', 3 * mebibyte));
    await progress.ready();
    expect(plain(tty.output())).toMatch(/Uploading 1 blob: 0 B\/3\.00 MiB/);
    expect(plain(tty.output())).toMatch(/Uploading +sha256:[0-9a-f]{12} +slow\.bin +0 B\/3\.00 MiB/);
  });
});
