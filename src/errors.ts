/**
 * Every error stowage throws is a {@link StowageError} with a machine-readable code. The CLI maps codes
 * to exit codes in one table; library users switch on `code`.
 */

/** The codes a {@link StowageError} can carry. */
export type ErrorCode =
  /** A reference (`[registry/]repo[:tag][@digest]`) or layout reference is malformed. */
  | 'INVALID_REFERENCE'
  /** A digest string is malformed or uses an unsupported algorithm. */
  | 'INVALID_DIGEST'
  /** Content did not hash to the digest it was addressed by. */
  | 'DIGEST_MISMATCH'
  /** Content was longer or shorter than its descriptor says. */
  | 'SIZE_MISMATCH'
  /** A manifest, index, config or other JSON document failed its schema. */
  | 'INVALID_MANIFEST'
  /** A document is larger than the limit stowage reads into memory. */
  | 'TOO_LARGE'
  /** A media type is malformed or not what the operation expects. */
  | 'INVALID_MEDIA_TYPE'
  /** The manifest, blob, tag or repository does not exist. */
  | 'NOT_FOUND'
  /** The registry wants credentials, or rejected the ones given. */
  | 'UNAUTHORIZED'
  /** The registry understood the credentials and refused the operation. */
  | 'DENIED'
  /** The registry does not support the operation (405, 501, or a missing API). */
  | 'UNSUPPORTED'
  /** The registry answered with an error stowage has no better code for. */
  | 'REGISTRY_ERROR'
  /** The registry could not be reached (DNS, refused connection, TLS, reset). */
  | 'NETWORK'
  /** A file name from an artifact would land outside the output directory. */
  | 'PATH_TRAVERSAL'
  /** A file to be written already exists and must not be overwritten. */
  | 'FILE_EXISTS'
  /** A local file or directory is missing or unreadable. */
  | 'FILE_NOT_FOUND'
  /** A local file operation failed. */
  | 'IO'
  /** An OCI image layout directory is malformed. */
  | 'INVALID_LAYOUT'
  /** A caller passed an invalid argument (flag value, annotation, option). */
  | 'INVALID_ARGUMENT'
  /** The operation was cancelled through its AbortSignal. */
  | 'ABORTED';

/** An error with a {@link ErrorCode}, a message naming the operation and reference, and an optional cause. */
export class StowageError extends Error {
  override readonly name = 'StowageError';
  readonly code: ErrorCode;
  /**
   * The error codes of the registry's answer, when the error is one (distribution spec error codes such as
   * `MANIFEST_BLOB_UNKNOWN`, `NAME_UNKNOWN`); empty otherwise.
   */
  readonly registryCodes: readonly string[];

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; registryCodes?: readonly string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.registryCodes = options?.registryCodes ?? [];
  }
}

/** True when `error` is a {@link StowageError}, optionally with one of the given codes. */
export function isStowageError(error: unknown, ...codes: ErrorCode[]): error is StowageError {
  return error instanceof StowageError && (codes.length === 0 || codes.includes(error.code));
}

/** The reason an AbortSignal carries, as a StowageError with code `ABORTED`. */
export function abortError(signal: AbortSignal | undefined, what: string): StowageError {
  const reason: unknown = signal?.reason;
  if (reason instanceof StowageError) return reason;
  return new StowageError('ABORTED', `${what}: cancelled`, { cause: reason });
}

/** Throws `ABORTED` when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw abortError(signal, what);
}

/** A short human description of any thrown value, for messages that wrap it. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !(error instanceof StowageError) && !error.message.includes(code)
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}

/** The `code` of a Node.js system error (`ENOENT`, `ECONNRESET`, ...), if `error` has one. */
export function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
