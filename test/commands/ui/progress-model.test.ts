/**
 * The progress model: lines in flight, lines that stay and the summary, from fake hooks and a fake clock;
 * durations and rates; colour from the palette given.
 */
import { describe, expect, it } from 'vitest';
import { formatDuration, formatRate, plainPalette, type Palette } from '../../../commands/ui/format.js';
import { ProgressModel } from '../../../commands/ui/progress-model.js';
import { MediaType } from '../../../src/oci/media-types.js';
import { blob, fakeClock, mebibyte, upload } from '../../helpers/progress-fixtures.js';

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

  it('counts a name in graphemes, not code units, when cutting it to the width', () => {
    const model = new ProgressModel(upload);
    const family = '\u{1F469}\u200D\u{1F469}\u200D\u{1F467}';
    // 20 graphemes of 8 code units each fit in the 34 columns left for a name in 80.
    model.start(blob(family.repeat(20), 10));
    model.start(blob(`${family.repeat(40)}.bin`, 10));
    const [fits, cut] = model.activeLines(80);
    expect(fits).toContain(`${family.repeat(20)}  0 B/10 B`);
    expect(cut).toContain(`${family.repeat(33)}…  0 B/10 B`);
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

describe('colour', () => {
  it('paints states, symbols and digests with the palette given, and nothing without one', () => {
    const tag = (name: string) => (text: string) => `<${name}>${text}</${name}>`;
    const palette: Palette = { cyan: tag('c'), green: tag('g'), dim: tag('d') };
    const model = new ProgressModel(upload, { color: palette });
    const file = blob('a.bin', 1);
    expect(model.finishedLine(model.skipped(file))).toMatch(/^<d>-<\/d> <d>Skipped {4}<\/d> <d>sha256:[0-9a-f]{12}<\/d> {2}a\.bin {2}1 B {2}exists$/);
    model.start(file);
    expect(model.activeLines()[0]).toMatch(/^ {2}<c>Uploading {2}<\/c> <d>sha256:/);
    expect(model.finishedLine(model.done(file))).toMatch(/^<g>✓<\/g> <g>Uploaded {3}<\/g> /);
    expect(model.finishedLine(model.mounted(file, 'team/base'))).toMatch(/^<g>✓<\/g> <c>Mounted {4}<\/c> .* from team\/base$/);
    const plainModel = new ProgressModel(upload, { color: plainPalette });
    expect(plainModel.finishedLine(plainModel.skipped(file))).toMatch(/^- Skipped +sha256:[0-9a-f]{12} {2}a\.bin {2}1 B {2}exists$/);
  });
});
