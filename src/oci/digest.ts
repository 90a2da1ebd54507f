/** Digests: strict parsing, hashing, and a stream that verifies size and digest as bytes pass. */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StowageError } from '../errors.js';

/** The digest algorithms stowage computes and verifies. */
export type DigestAlgorithm = 'sha256' | 'sha512';

/** A parsed digest. */
export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  /** Lowercase hex, 64 characters for sha256 and 128 for sha512. */
  hex: string;
}

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// Image spec, descriptor.md "Digests": algorithm ":" encoded.
const digestGrammar = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * Parses and validates a digest string such as `sha256:<64 hex>`.
 * @throws StowageError `INVALID_DIGEST` when the grammar, algorithm or encoded part is wrong.
 */
export function parseDigest(digest: string): ParsedDigest {
  if (!digestGrammar.test(digest)) {
    throw new StowageError('INVALID_DIGEST', `invalid digest "${digest}": expected <algorithm>:<hex>`);
  }
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new StowageError('INVALID_DIGEST', `invalid digest "${digest}": unsupported algorithm "${algorithm}" (sha256 and sha512 are supported)`);
  }
  if (hex.length !== hexLength[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new StowageError('INVALID_DIGEST', `invalid digest "${digest}": ${algorithm} needs ${hexLength[algorithm]} lowercase hex characters`);
  }
  return { algorithm, hex };
}

/** True when {@link parseDigest} would accept `digest`. */
export function isValidDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

/** The digest of `bytes`, as `<algorithm>:<hex>`. */
export function digestOf(bytes: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** An incremental hasher that yields a digest string. */
export class Hasher {
  readonly algorithm: DigestAlgorithm;
  private hash: Hash;
  private count = 0;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  /**
   * An independent hasher in the same state (a checkpoint): updating either leaves the other as it was.
   * Resumable uploads keep one per acknowledged offset, since a hash state cannot be rewound.
   */
  copy(): Hasher {
    const twin = new Hasher(this.algorithm);
    twin.hash = this.hash.copy();
    twin.count = this.count;
    return twin;
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.count += chunk.byteLength;
  }

  /** Bytes hashed so far. */
  get size(): number {
    return this.count;
  }

  /** The digest; the hasher cannot be updated afterwards. */
  digest(): string {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

/** What a verifying stream checks: the descriptor's digest and size. */
export interface Expected {
  digest: string;
  size: number;
}

/**
 * A pass-through stream that fails with `SIZE_MISMATCH` as soon as more than `expected.size` bytes pass,
 * and at the end when fewer did, or with `DIGEST_MISMATCH` when the bytes hash to another digest.
 * `what` names the content in error messages (for example the reference).
 * @throws StowageError `INVALID_DIGEST` at construction when `expected.digest` is malformed.
 */
export function verifyingStream(expected: Expected, what: string): Transform {
  const { algorithm } = parseDigest(expected.digest);
  const hasher = new Hasher(algorithm);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hasher.update(chunk);
      if (hasher.size > expected.size) {
        callback(new StowageError('SIZE_MISMATCH', `${what}: received more than the expected ${expected.size} bytes`));
        return;
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      callback(verifyResult(hasher, expected, what));
    },
  });
}

/** Compares a finished hasher with what was expected; returns the error to raise, if any. */
export function verifyResult(hasher: Hasher, expected: Expected, what: string): StowageError | null {
  if (hasher.size !== expected.size) {
    return new StowageError('SIZE_MISMATCH', `${what}: received ${hasher.size} bytes, expected ${expected.size}`);
  }
  const actual = hasher.digest();
  if (actual !== expected.digest) {
    return new StowageError('DIGEST_MISMATCH', `${what}: content has digest ${actual}, expected ${expected.digest}`);
  }
  return null;
}

/**
 * Checks bytes held in memory against a descriptor.
 * @throws StowageError `SIZE_MISMATCH`, `DIGEST_MISMATCH`, `INVALID_DIGEST`.
 */
export function verifyBytes(bytes: Uint8Array, expected: Expected, what: string): void {
  const { algorithm } = parseDigest(expected.digest);
  const hasher = new Hasher(algorithm);
  hasher.update(bytes);
  const error = verifyResult(hasher, expected, what);
  if (error) throw error;
}
