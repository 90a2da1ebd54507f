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
