import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { StowageError } from '../../src/errors.js';
import { expectCode } from '../helpers/expect-code.js';
import { Hasher, digestOf, isValidDigest, parseDigest, verifyBytes, verifyingStream, type Expected } from '../../src/oci/digest.js';

function reference(bytes: Uint8Array | string, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}


const hex64 = 'c0ffee'.padEnd(64, '0');
const hex128 = '1234abcd'.repeat(16);

describe('parseDigest', () => {
  it('accepts sha256 and sha512 with lowercase hex of the right length', () => {
    expect(parseDigest(`sha256:${hex64}`)).toEqual({ algorithm: 'sha256', hex: hex64 });
    expect(parseDigest(`sha512:${hex128}`)).toEqual({ algorithm: 'sha512', hex: hex128 });
    expect(isValidDigest(`sha256:${hex64}`)).toBe(true);
    expect(isValidDigest(`sha512:${hex128}`)).toBe(true);
  });

  it.each([
    ['uppercase hex', `sha256:${hex64.toUpperCase()}`, /lowercase hex/],
    ['one uppercase hex digit', `sha256:${hex64.slice(0, 63)}F`, /lowercase hex/],
    ['sha256 too short', `sha256:${hex64.slice(1)}`, /64/],
    ['sha256 too long', `sha256:${hex64}0`, /64/],
    ['sha512 with a sha256-length value', `sha512:${hex64}`, /128/],
    ['sha256 with a sha512-length value', `sha256:${hex128}`, /64/],
    ['non-hex in an encoded part the grammar allows', `sha256:${'g'.repeat(64)}`, /lowercase hex/],
    ['unknown algorithm', `md5:${'a'.repeat(32)}`, /unsupported algorithm "md5"/],
    ['registered-looking but unsupported algorithm', `blake3:${hex64}`, /unsupported algorithm/],
    ['uppercase algorithm', `SHA256:${hex64}`, /expected/],
    ['algorithm with a separator', `sha256+b64:${hex64}`, /unsupported algorithm/],
    ['no colon', hex64, /expected/],
    ['empty', '', /expected/],
    ['empty algorithm', `:${hex64}`, /expected/],
    ['empty encoded part', 'sha256:', /expected/],
    ['two colons', `sha256:${hex64}:`, /expected/],
    ['trailing separator in algorithm', `sha256-:${hex64}`, /expected/],
    ['leading separator in algorithm', `+sha256:${hex64}`, /expected/],
    ['space', `sha256: ${hex64}`, /expected/],
    ['trailing newline', `sha256:${hex64}\n`, /expected/],
    ['encoded part outside the grammar', `sha256:${hex64.slice(2)}+/`, /expected/],
  ])('rejects %s', (_what, digest, reason) => {
    const error = expectCode(() => parseDigest(digest), 'INVALID_DIGEST');
    expect(error.message).toContain(`"${digest}"`);
    expect(error.message).toMatch(reason);
    expect(isValidDigest(digest)).toBe(false);
  });
});

describe('digestOf and Hasher', () => {
  const samples: (Uint8Array | string)[] = ['', '{}', 'hello, registry\n', 'ünïcödé', new Uint8Array([0, 1, 2, 255]), randomBytes(70_000)];

  it.each(samples.map((sample, i) => [i, sample] as const))('digestOf matches node:crypto for sample %i', (_i, sample) => {
    expect(digestOf(sample)).toBe(reference(sample));
    expect(digestOf(sample, 'sha512')).toBe(reference(sample, 'sha512'));
  });

  it('hashes strings as UTF-8', () => {
    expect(digestOf('é')).toBe(reference(Buffer.from([0xc3, 0xa9])));
  });

  it('knows the well-known empty digests', () => {
    expect(digestOf('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(digestOf(new Uint8Array(0), 'sha512')).toBe(
      'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    );
  });

  it('Hasher gives the same digest in chunks and counts bytes', () => {
    const bytes = randomBytes(10_001);
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const hasher = new Hasher(algorithm);
      expect(hasher.algorithm).toBe(algorithm);
      hasher.update(bytes.subarray(0, 1));
      hasher.update(bytes.subarray(1, 5000));
      hasher.update(new Uint8Array(0));
      hasher.update(bytes.subarray(5000));
      expect(hasher.size).toBe(10_001);
      expect(hasher.digest()).toBe(reference(bytes, algorithm));
    }
  });

  it('Hasher defaults to sha256 and digests nothing as the empty digest', () => {
    const hasher = new Hasher();
    expect(hasher.size).toBe(0);
    expect(hasher.digest()).toBe(reference(''));
  });
});

/** Pipes `chunks` through a verifying stream; resolves with what came out or rejects with the stream's error. */
async function runThrough(chunks: Uint8Array[], expected: Expected): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    verifyingStream(expected, 'ghcr.io/o/app@blob'),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(out);
}

async function rejection(promise: Promise<unknown>): Promise<StowageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StowageError);
  return error as StowageError;
}

describe('verifyingStream', () => {
  const content = randomBytes(200_000);
  const chunks = [content.subarray(0, 1), content.subarray(1, 65_536), content.subarray(65_536, 150_000), content.subarray(150_000)];

  for (const algorithm of ['sha256', 'sha512'] as const) {
    describe(algorithm, () => {
      const good: Expected = { digest: reference(content, algorithm), size: content.length };

      it('passes good bytes through unchanged across chunks', async () => {
        const out = await runThrough(chunks, good);
        expect(out.equals(content)).toBe(true);
      });

      it('fails with SIZE_MISMATCH when there are fewer bytes', async () => {
        const error = await rejection(runThrough(chunks.slice(0, 3), good));
        expect(error.code).toBe('SIZE_MISMATCH');
        expect(error.message).toContain('ghcr.io/o/app@blob');
        expect(error.message).toContain('150000');
      });

      it('fails with SIZE_MISMATCH when there are more bytes', async () => {
        const error = await rejection(runThrough([...chunks, Buffer.from('x')], good));
        expect(error.code).toBe('SIZE_MISMATCH');
        expect(error.message).toContain(String(content.length));
      });

      it('fails with DIGEST_MISMATCH on other bytes of the right size', async () => {
        const tampered = Buffer.from(content);
        tampered[123_456] = (tampered[123_456]! + 1) % 256;
        const error = await rejection(runThrough([tampered.subarray(0, 100_000), tampered.subarray(100_000)], good));
        expect(error.code).toBe('DIGEST_MISMATCH');
        expect(error.message).toContain(good.digest);
        expect(error.message).toContain(reference(tampered, algorithm));
      });
    });
  }

  it('fails on the chunk that overflows, before the input ends', async () => {
    const stream = verifyingStream({ digest: reference('abcd'), size: 4 }, 'blob');
    const passed: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => passed.push(chunk));
    const failed = new Promise<unknown>((resolve) => stream.once('error', resolve));
    stream.write(Buffer.from('abc'));
    stream.write(Buffer.from('de'));
    const error = await failed;
    expect(error).toBeInstanceOf(StowageError);
    expect((error as StowageError).code).toBe('SIZE_MISMATCH');
    expect(stream.writableEnded).toBe(false);
    // The overflowing chunk is not passed on.
    expect(Buffer.concat(passed).toString()).toBe('abc');
  });

  it('accepts empty content with the empty digest, and rejects empty content otherwise', async () => {
    expect((await runThrough([], { digest: reference(''), size: 0 })).length).toBe(0);
    expect((await rejection(runThrough([], { digest: reference('x'), size: 1 }))).code).toBe('SIZE_MISMATCH');
    expect((await rejection(runThrough([], { digest: reference('x'), size: 0 }))).code).toBe('DIGEST_MISMATCH');
  });

  it('uses the algorithm of the expected digest', async () => {
    // A sha512 digest must not be checked against a sha256 hash of the same bytes.
    const expected = { digest: reference('payload', 'sha512'), size: 7 };
    const out = await runThrough([Buffer.from('payload')], expected);
    expect(out.toString()).toBe('payload');
  });

  it('throws INVALID_DIGEST at construction for a malformed digest', () => {
    expectCode(() => verifyingStream({ digest: 'sha256:nope', size: 1 }, 'blob'), 'INVALID_DIGEST');
    expectCode(() => verifyingStream({ digest: `md5:${'0'.repeat(32)}`, size: 1 }, 'blob'), 'INVALID_DIGEST');
  });
});

describe('verifyBytes', () => {
  const bytes = new TextEncoder().encode('{"schemaVersion":2}');

  it('accepts matching bytes for sha256 and sha512', () => {
    expect(() => {
      verifyBytes(bytes, { digest: reference(bytes), size: bytes.length }, 'manifest');
    }).not.toThrow();
    expect(() => {
      verifyBytes(bytes, { digest: reference(bytes, 'sha512'), size: bytes.length }, 'manifest');
    }).not.toThrow();
  });

  it('reports size before digest', () => {
    const error = expectCode(() => {
      verifyBytes(bytes, { digest: reference(bytes), size: bytes.length + 1 }, 'localhost:5000/app:v1');
    }, 'SIZE_MISMATCH');
    expect(error.message).toContain('localhost:5000/app:v1');
    expectCode(() => {
      verifyBytes(bytes, { digest: reference('other'), size: 3 }, 'm');
    }, 'SIZE_MISMATCH');
  });

  it('reports DIGEST_MISMATCH for other bytes of the same size', () => {
    const other = new TextEncoder().encode('{"schemaVersion":3}');
    const error = expectCode(() => {
      verifyBytes(other, { digest: reference(bytes), size: bytes.length }, 'localhost:5000/app:v1');
    }, 'DIGEST_MISMATCH');
    expect(error.message).toContain(reference(other));
  });

  it('does not accept an uppercase spelling of the right digest', () => {
    expectCode(() => {
      verifyBytes(bytes, { digest: reference(bytes).toUpperCase(), size: bytes.length }, 'm');
    }, 'INVALID_DIGEST');
  });
});
