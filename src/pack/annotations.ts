/**
 * Annotations for push and attach: `-a key=value` flags and ORAS's `--annotation-file`
 * (`{"$manifest": {...}, "$config": {...}, "<file name>": {...}}`), merged.
 */
import { readFile, stat } from 'node:fs/promises';
import { z } from 'zod';
import { StowageError, abortError, describeError } from '../errors.js';
import type { OperationOptions } from '../content/store.js';
import type { PackFile } from './file-refs.js';

/** Annotation keys and values. */
export type Annotations = Record<string, string>;

/** The key of the manifest's annotations in an annotation file. */
export const manifestAnnotationKey = '$manifest';
/** The key of the config descriptor's annotations in an annotation file. */
export const configAnnotationKey = '$config';

/** What an annotation file holds. */
export interface AnnotationFile {
  manifest: Annotations;
  config: Annotations;
  /** By file name, as written in the file (the path as given on the command line, or its title). */
  files: Map<string, Annotations>;
}

/** Annotations sorted out by where they go. */
export interface PackAnnotations {
  manifest: Annotations;
  config: Annotations;
  /** By title. */
  files: Map<string, Annotations>;
}

const annotationFileSchema = z.record(z.string(), z.record(z.string(), z.string()));

// Annotation files are small; refuse anything that would be silly to read into memory.
const maxAnnotationFileBytes = 4 * 1024 * 1024;

/**
 * Parses `key=value` flags; the value may contain `=`.
 * @throws StowageError `INVALID_ARGUMENT` for a flag without `=`, an empty key, or a key given twice.
 */
export function parseAnnotationFlags(flags: readonly string[]): Annotations {
  const result: Annotations = {};
  for (const flag of flags) {
    const equals = flag.indexOf('=');
    if (equals === -1) {
      throw new StowageError('INVALID_ARGUMENT', `invalid annotation "${flag}": expected key=value`);
    }
    const key = flag.slice(0, equals);
    if (key === '') {
      throw new StowageError('INVALID_ARGUMENT', `invalid annotation "${flag}": the key is empty`);
    }
    if (Object.hasOwn(result, key)) {
      throw new StowageError('INVALID_ARGUMENT', `duplicate annotation key "${key}"`);
    }
    result[key] = flag.slice(equals + 1);
  }
  return result;
}

/**
 * Parses the JSON of an annotation file. `source` names it in messages.
 * @throws StowageError `INVALID_ARGUMENT` when it is not JSON, not an object of string-to-string objects,
 *   or has an empty annotation key.
 */
export function parseAnnotationFile(text: string | Uint8Array, source: string): AnnotationFile {
  let value: unknown;
  try {
    value = JSON.parse(typeof text === 'string' ? text : new TextDecoder('utf-8', { fatal: true }).decode(text));
  } catch (error) {
    throw new StowageError('INVALID_ARGUMENT', `annotation file ${source}: not valid JSON: ${describeError(error)}`, { cause: error });
  }
  const parsed = annotationFileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
    throw new StowageError(
      'INVALID_ARGUMENT',
      `annotation file ${source}: expected {"$manifest": {"key": "value"}, "$config": {...}, "<file>": {...}}: ${issue?.message ?? 'invalid'}${where}`,
      { cause: parsed.error },
    );
  }
  const result: AnnotationFile = { manifest: {}, config: {}, files: new Map() };
  for (const [target, annotations] of Object.entries(parsed.data)) {
    if (Object.hasOwn(annotations, '')) {
      throw new StowageError('INVALID_ARGUMENT', `annotation file ${source}: empty annotation key for "${target}"`);
    }
    if (target === manifestAnnotationKey) result.manifest = annotations;
    else if (target === configAnnotationKey) result.config = annotations;
    else result.files.set(target, annotations);
  }
  return result;
}

/**
 * Reads and parses an annotation file.
 * @throws StowageError `FILE_NOT_FOUND`, `TOO_LARGE` (over 4 MiB), `ABORTED`, and as {@link parseAnnotationFile}.
 */
export async function readAnnotationFile(path: string, options: OperationOptions = {}): Promise<AnnotationFile> {
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (info.size > maxAnnotationFileBytes) {
      throw new StowageError('TOO_LARGE', `annotation file ${path}: larger than ${maxAnnotationFileBytes} bytes`);
    }
    bytes = await readFile(path, options.signal === undefined ? {} : { signal: options.signal });
  } catch (error) {
    if (error instanceof StowageError) throw error;
    if (options.signal?.aborted === true) throw abortError(options.signal, `read annotation file ${path}`);
    throw new StowageError('FILE_NOT_FOUND', `annotation file ${path}: cannot be read: ${describeError(error)}`, { cause: error });
  }
  return parseAnnotationFile(bytes, path);
}

/**
 * Merges the `-a` flags (manifest annotations) with an annotation file, and sorts the file's per-file
 * entries by title. A file entry may name a file by its path as given or by its title.
 * @throws StowageError `INVALID_ARGUMENT` when a manifest key is given by both, or a file entry names no
 *   file being pushed (or two entries name the same file).
 */
export function mergeAnnotations(flags: Annotations, file: AnnotationFile | undefined, files: readonly PackFile[]): PackAnnotations {
  const manifest: Annotations = { ...flags };
  for (const [key, value] of Object.entries(file?.manifest ?? {})) {
    if (Object.hasOwn(manifest, key)) {
      throw new StowageError('INVALID_ARGUMENT', `annotation "${key}" is given both by --annotation and in the annotation file`);
    }
    manifest[key] = value;
  }
  const byTitle = new Map<string, Annotations>();
  for (const [name, annotations] of file?.files ?? new Map<string, Annotations>()) {
    const match = files.find((candidate) => candidate.path === name) ?? files.find((candidate) => candidate.title === name);
    if (match === undefined) {
      const known = files.map((candidate) => `"${candidate.path}"`).join(', ');
      throw new StowageError(
        'INVALID_ARGUMENT',
        `annotation file names "${name}", which is not a file being pushed (${known === '' ? 'no files given' : `files: ${known}`})`,
      );
    }
    if (byTitle.has(match.title)) {
      throw new StowageError('INVALID_ARGUMENT', `annotation file has two entries for "${match.title}"`);
    }
    byTitle.set(match.title, annotations);
  }
  return { manifest, config: { ...(file?.config ?? {}) }, files: byTitle };
}
