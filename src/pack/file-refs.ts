/**
 * File arguments of push and attach, as ORAS writes them: `path[:mediaType]`, and the title each file gets
 * (`org.opencontainers.image.title`): the cleaned path as given, relative, with `/`.
 */
import { posix } from 'node:path';
import { StowageError } from '../errors.js';
import { Annotation, isValidMediaType } from '../oci/media-types.js';
import type { Descriptor } from '../oci/schemas.js';

/** One file argument, split. */
export interface FileRef {
  /** The path as given on the command line (without the media type suffix). */
  path: string;
  /** The media type after the last `:`, when one was given. */
  mediaType?: string;
}

/** A file argument ready to be added to a store: where it is, and the name it is pushed under. */
export interface PackFile extends FileRef {
  /** The title annotation: the cleaned path. */
  title: string;
}

/** Options of {@link parseFileRefs} and {@link fileTitle}. */
export interface FileTitleOptions {
  /** Accept absolute paths (ORAS `--disable-path-validation`); the title is then the absolute path. */
  disablePathValidation?: boolean;
}

/**
 * Splits `path[:mediaType]`. The split happens at the last `:` only when what follows is a valid media
 * type, so `a:b.txt` is a file name; a trailing `:` alone is dropped (ORAS reads `f.txt:` as `f.txt`).
 * @throws StowageError `INVALID_ARGUMENT` when the path part is empty.
 */
export function parseFileRef(argument: string): FileRef {
  const colon = argument.lastIndexOf(':');
  let ref: FileRef = { path: argument };
  if (colon !== -1) {
    const suffix = argument.slice(colon + 1);
    if (suffix === '') ref = { path: argument.slice(0, colon) };
    else if (isValidMediaType(suffix)) ref = { path: argument.slice(0, colon), mediaType: suffix };
  }
  if (ref.path === '') {
    throw new StowageError('INVALID_ARGUMENT', `invalid file argument "${argument}": the path is empty`);
  }
  return ref;
}

/** Cleans a path the way Go's `filepath.Clean` does on a POSIX system: `./a//b/../c/` -> `a/c`. */
export function cleanPath(path: string): string {
  const normalised = posix.normalize(path);
  return normalised.length > 1 && normalised.endsWith('/') ? normalised.slice(0, -1) : normalised;
}

/**
 * The title a file is pushed under: the cleaned path. Relative paths that climb (`../x`) are kept, as ORAS
 * does; absolute paths are refused unless `disablePathValidation`.
 * @throws StowageError `INVALID_ARGUMENT` for an absolute path without `disablePathValidation`.
 */
export function fileTitle(path: string, options: FileTitleOptions = {}): string {
  const title = cleanPath(path);
  if (posix.isAbsolute(title) && options.disablePathValidation !== true) {
    throw new StowageError(
      'INVALID_ARGUMENT',
      `absolute file path "${path}": a puller would write it outside its output directory; use --disable-path-validation if this is intended`,
    );
  }
  return title;
}

/**
 * Parses every file argument and computes its title.
 * @throws StowageError `INVALID_ARGUMENT` for an empty path, an absolute path (unless
 *   `disablePathValidation`), or two arguments with the same title.
 */
export function parseFileRefs(argumentsList: readonly string[], options: FileTitleOptions = {}): PackFile[] {
  const byTitle = new Map<string, string>();
  return argumentsList.map((argument) => {
    const ref = parseFileRef(argument);
    const title = fileTitle(ref.path, options);
    const previous = byTitle.get(title);
    if (previous !== undefined) {
      throw new StowageError('INVALID_ARGUMENT', `duplicate file name "${title}": given as "${previous}" and "${ref.path}"`);
    }
    byTitle.set(title, ref.path);
    return { ...ref, title };
  });
}

/** The title (`org.opencontainers.image.title`) of a descriptor, when it has a non-empty one. */
export function titleOf(desc: Descriptor): string | undefined {
  const title = desc.annotations?.[Annotation.title];
  return title === undefined || title === '' ? undefined : title;
}
