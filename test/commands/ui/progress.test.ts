/**
 * The progress display: the model's lines and summary from fake hooks and a fake clock, and the renderer on
 * a fake terminal (lines that stay, the summary, nothing drawn per chunk, nothing at all when disabled).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Progress, ProgressModel, colorWanted, formatDuration, formatRate, progressEnabled, type Terminal } from '../../../commands/ui/progress.js';
import { digestOf } from '../../../src/oci/digest.js';
import { Annotation, MediaType } from '../../../src/oci/media-types.js';
import type { Descriptor } from '../../../src/oci/schemas.js';

const mebibyte = 1024 * 1024;

function blob(title: string | undefined, size: number, mediaType: string = MediaType.ociLayer): Descriptor {
  return {
    mediaType,
    digest: digestOf(`${title ?? mediaType} ${size}`),
    size,
    ...(title === undefined ? {} : { annotations: { [Annotation.title]: title } }),
  };
}

/** A clock the test moves by hand. */
function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

const upload = { active: 'Uploading', done: 'Uploaded' };

/** Text without ANSI escape sequences; cursor moves and erases become line breaks, so each drawn line stands alone. */
function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*[AGK]/g, '\n').replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
}

describe('formatting', () => {
  it('durations and rates', () => {
    expect(formatDuration(420)).toBe('0.4 s');
    expect(formatDuration(3_400)).toBe('3.4 s');
    expect(formatDuration(12_300)).toBe('12 s');
    expect(formatDuration(185_000)).toBe('3m 05s');
    expect(formatRate(360 * mebibyte, 1_000)).toBe('360 MiB/s');
    expect(formatRate(mebibyte, 0)).toBe('');
    expect(formatRate(0, 1_000)).toBe('');
  });

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

describe('ProgressModel', () => {
  it('a line per blob in flight with bytes, total, speed and state, and a headline', () => {
    const clock = fakeClock();
    const model = new ProgressModel(upload, { now: clock.now });
    const big = blob('model.bin', 1024 * mebibyte);
    const small = blob('notes.txt', 10 * mebibyte);
    model.start(big);
    model.start(small);
    clock.advance(2_000);
    model.progress(big, 512 * mebibyte);
    model.progress(small, 5 * mebibyte);
    const lines = model.activeLines(120);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('Uploading');
    expect(lines[0]).toContain(big.digest.slice(0, 'sha256:'.length + 12));
    expect(lines[0]).not.toContain(big.digest.slice(0, 'sha256:'.length + 13));
    expect(lines[0]).toMatch(/model\.bin +512 MiB\/1\.00 GiB +256 MiB\/s$/);
    expect(lines[1]).toMatch(/notes\.txt +5\.00 MiB\/10\.0 MiB +2\.50 MiB\/s$/);
    expect(model.headline()).toBe('Uploading 2 blobs: 517 MiB/1.01 GiB, 259 MiB/s');
  });

  it('names a blob without a title by its media type, and cuts long names to the width', () => {
    const clock = fakeClock();
    const model = new ProgressModel(upload, { now: clock.now });
    model.start(blob(undefined, 2, MediaType.ociEmpty));
    model.start(blob('x'.repeat(300), 10));
    const [config, long] = model.activeLines(100);
    expect(config).toContain(MediaType.ociEmpty);
    expect(long).toContain('…');
    expect(long!.length).toBeLessThanOrEqual(100);
  });

  it('lines that stay: done with time and speed, skipped, mounted, resumed', () => {
    const clock = fakeClock();
    const model = new ProgressModel(upload, { now: clock.now });
    const big = blob('model.bin', 100 * mebibyte);
    model.start(big);
    clock.advance(400);
    model.progress(big, 100 * mebibyte);
    expect(model.finishedLine(model.done(big))).toMatch(/^✓ Uploaded +sha256:[0-9a-f]{12} +model\.bin +100 MiB +0\.4 s +250 MiB\/s$/);
    expect(model.finishedLine(model.skipped(blob('old.bin', 2048)))).toMatch(/^- Skipped +sha256:[0-9a-f]{12} +old\.bin +2\.00 KiB +exists$/);
    expect(model.finishedLine(model.mounted(blob('base.tar', 5 * mebibyte), 'team/base'))).toMatch(/^✓ Mounted +sha256:[0-9a-f]{12} +base\.tar +5\.00 MiB +from team\/base$/);

    const resumed = blob('half.bin', 64 * mebibyte);
    model.start(resumed);
    model.resumed(resumed, 48 * mebibyte);
    clock.advance(1_000);
    model.progress(resumed, 56 * mebibyte);
    expect(model.activeLines(120)[0]).toMatch(/56\.0 MiB\/64\.0 MiB +8\.00 MiB\/s +resumed at 48\.0 MiB$/);
    model.progress(resumed, 64 * mebibyte);
    clock.advance(1_000);
    // Speed counts the bytes this run moved: 16 MiB in 2 s.
    expect(model.finishedLine(model.done(resumed))).toMatch(/half\.bin +64\.0 MiB +2\.0 s +8\.00 MiB\/s +resumed at 48\.0 MiB$/);
    expect(model.activeCount).toBe(0);
  });

  it('the summary: blobs, bytes, time and speed of what moved; skipped, mounted and resumed counts', () => {
    const clock = fakeClock();
    const model = new ProgressModel(upload, { now: clock.now });
    for (let i = 0; i < 3; i++) model.skipped(blob(`old-${i}`, 10));
    model.mounted(blob('base.tar', 5 * mebibyte), 'team/base');
    const files = Array.from({ length: 12 }, (_, i) => blob(`file-${i}`, 100 * mebibyte + (i === 0 ? 0.2 * 1024 * mebibyte : 0)));
    for (const file of files) model.start(file);
    clock.advance(3_400);
    for (const file of files) {
      model.progress(file, file.size);
      model.done(file);
    }
    const total = files.reduce((sum, file) => sum + file.size, 0);
    expect(total).toBeGreaterThan(1.2 * 1024 * mebibyte);
    expect(model.summary()).toBe('Uploaded 12 blobs, 1.37 GiB in 3.4 s (413 MiB/s); 3 skipped, 1 mounted');
  });

  it('a summary with one blob and nothing else, and one with a resumed blob', () => {
    const clock = fakeClock();
    const model = new ProgressModel({ active: 'Downloading', done: 'Downloaded' }, { now: clock.now });
    const one = blob('a.bin', 10 * mebibyte);
    model.start(one);
    model.resumed(one, 5 * mebibyte);
    clock.advance(1_000);
    model.done(one);
    expect(model.summary()).toBe('Downloaded 1 blob, 10.0 MiB in 1.0 s (5.00 MiB/s); 1 resumed');
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

  it('prints a line per finished blob and the summary; per-chunk progress draws nothing by itself', () => {
    const clock = fakeClock();
    const tty = terminal();
    progress = new Progress({ verbs: upload, enabled: true, terminal: tty, color: false, now: clock.now, intervalMs: 60_000 });
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
});
