/**
 * JSON as ORAS (Go's encoding/json) writes it: descriptors with their fields in the image spec's order, and
 * documents indented without changing a byte of their content (key order, number spelling, escapes).
 */
import { StowageError } from '../errors.js';
import type { Descriptor, Platform } from './schemas.js';

/** Object keys sorted, as Go writes a map (annotations). */
function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(record).sort().map((key) => [key, record[key] ?? '']));
}

/** A platform with its fields in the image spec's order (architecture, os, os.version, os.features, variant, features). */
export function orderedPlatform(platform: Platform): Platform {
  const { architecture, os, 'os.version': osVersion, 'os.features': osFeatures, variant, features } = platform;
  return {
    architecture,
    os,
    ...(osVersion === undefined ? {} : { 'os.version': osVersion }),
    ...(osFeatures === undefined ? {} : { 'os.features': osFeatures }),
    ...(variant === undefined ? {} : { variant }),
    ...(features === undefined ? {} : { features }),
  };
}

/**
 * A descriptor with only the image spec's fields, in its order (mediaType, digest, size, urls, annotations
 * with sorted keys, data, platform, artifactType): the JSON ORAS prints for `--descriptor` and writes into indexes.
 */
export function orderedDescriptor(desc: Descriptor): Descriptor {
  return {
    mediaType: desc.mediaType,
    digest: desc.digest,
    size: desc.size,
    ...(desc.urls === undefined || desc.urls.length === 0 ? {} : { urls: desc.urls }),
    ...(desc.annotations === undefined || Object.keys(desc.annotations).length === 0 ? {} : { annotations: sortedRecord(desc.annotations) }),
    ...(desc.data === undefined ? {} : { data: desc.data }),
    ...(desc.platform === undefined ? {} : { platform: orderedPlatform(desc.platform) }),
    ...(desc.artifactType === undefined || desc.artifactType === '' ? {} : { artifactType: desc.artifactType }),
  };
}

/**
 * `bytes` (a JSON document) indented by two spaces, each value on its own line, empty objects and arrays
 * kept as `{}` and `[]`, everything else byte for byte (as Go's `json.Indent`), with a final newline.
 * @throws StowageError `INVALID_MANIFEST` when `bytes` is not JSON.
 */
export function indentJson(bytes: Uint8Array, what: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    JSON.parse(text);
  } catch (error) {
    throw new StowageError('INVALID_MANIFEST', `${what}: not valid JSON`, { cause: error });
  }
  let out = '';
  let depth = 0;
  let inString = false;
  const newline = (): string => `\n${'  '.repeat(depth)}`;
  for (let i = 0; i < text.length; i++) {
    const char = text[i] ?? '';
    if (inString) {
      out += char;
      if (char === '\\') {
        out += text[i + 1] ?? '';
        i++;
      } else if (char === '"') {
        inString = false;
      }
      continue;
    }
    if (char === ' ' || char === '\t' || char === '\n' || char === '\r') continue;
    if (char === '"') {
      inString = true;
      out += char;
    } else if (char === '{' || char === '[') {
      // An empty object or array stays on one line.
      let next = i + 1;
      while (next < text.length && /\s/.test(text[next] ?? '')) next++;
      const close = char === '{' ? '}' : ']';
      if (text[next] === close) {
        out += `${char}${close}`;
        i = next;
        continue;
      }
      depth++;
      out += char + newline();
    } else if (char === '}' || char === ']') {
      depth--;
      out += newline() + char;
    } else if (char === ',') {
      out += `,${newline()}`;
    } else if (char === ':') {
      out += ': ';
    } else {
      out += char;
    }
  }
  return `${out}\n`;
}

/** A JSON value with object keys sorted at every level (how ORAS prints a decoded document in `--format json`). */
export function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(Object.keys(record).sort().map((key) => [key, sortKeysDeep(record[key])]));
  }
  return value;
}

/**
 * The parsed JSON of `bytes`, keys sorted at every level.
 * @throws StowageError `INVALID_MANIFEST` when `bytes` is not JSON.
 */
export function sortedJsonOf(bytes: Uint8Array, what: string): unknown {
  try {
    return sortKeysDeep(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
  } catch (error) {
    throw new StowageError('INVALID_MANIFEST', `${what}: not valid JSON`, { cause: error });
  }
}
