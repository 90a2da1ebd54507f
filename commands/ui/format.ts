/** Small text formatting helpers for the CLI's output. */
import { Annotation, type Descriptor } from '../../src/index.js';

/** `1.5 MiB`, `12 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit] ?? ''}`;
}

/** What to call a node in progress output: its file name, else its media type. */
export function nodeLabel(desc: Descriptor): string {
  return desc.annotations?.[Annotation.title] ?? desc.mediaType;
}

/** A short digest for progress lines: `sha256:0123456789ab`. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.slice(0, colon + 13);
}

/** The colours of the lines (a chalk instance is one); {@link plainPalette} paints nothing. */
export interface Palette {
  readonly cyan: (text: string) => string;
  readonly green: (text: string) => string;
  readonly dim: (text: string) => string;
}

const unchanged = (text: string): string => text;

/** No colour. */
export const plainPalette: Palette = { cyan: unchanged, green: unchanged, dim: unchanged };

/** `0.4 s`, `12 s`, `3m 05s`. */
export function formatDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}m ${String(whole % 60).padStart(2, '0')}s`;
}

/** `360 MiB/s`; empty when no time has passed. */
export function formatRate(bytes: number, ms: number): string {
  if (ms <= 0 || bytes <= 0) return '';
  return `${formatBytes(Math.round((bytes * 1000) / ms))}/s`;
}

// Made on first use: building a segmenter takes ICU some 20 ms, too much for every start of the CLI.
let graphemes: Intl.Segmenter | undefined;

/** `text` cut to `width` characters (graphemes), with an ellipsis when cut. */
export function truncate(text: string, width: number): string {
  // No more graphemes than UTF-16 code units: a text this short fits as it is.
  if (text.length <= width) return text;
  graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  const parts = Array.from(graphemes.segment(text), (part) => part.segment);
  return parts.length <= width ? text : `${parts.slice(0, width - 1).join('')}…`;
}
