import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InlineHasher, ThreadedHasher, asyncVerifyResult, hasherFor, threadedHashMinimumBytes, type AsyncHasher } from '../../src/oci/threaded-hasher.js';

/** Feeds `bytes` in chunks of `chunk` bytes, waiting when the hasher asks to. */
async function feed(hasher: AsyncHasher, bytes: Buffer, chunk: number): Promise<void> {
  for (let at = 0; at < bytes.byteLength; at += chunk) {
    const pending = hasher.update(bytes.subarray(at, at + chunk));
    if (pending !== undefined) await pending;
  }
}

describe('ThreadedHasher', () => {
  it.each([
    ['nothing', 0, 1],
    ['one byte', 1, 1],
    ['exactly one block', 1024 * 1024, 64 * 1024],
    ['many blocks in odd chunks (back-pressure)', 9 * 1024 * 1024 + 3, 65_537],
    ['chunks larger than a block', 6 * 1024 * 1024, 5 * 1024 * 1024 + 1],
  ])('hashes %s like node:crypto', async (_what, size, chunk) => {
    const bytes = randomBytes(size);
    const hasher = new ThreadedHasher();
    await feed(hasher, bytes, chunk);
    expect(hasher.size).toBe(size);
    expect(await hasher.digest()).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });

  it('sha512, and several hashers at once', async () => {
    const a = randomBytes(3 * 1024 * 1024);
    const b = randomBytes(5 * 1024 * 1024);
    const first = new ThreadedHasher('sha512');
    const second = new ThreadedHasher('sha256');
    await Promise.all([feed(first, a, 100_000), feed(second, b, 70_000)]);
    const [digestA, digestB] = await Promise.all([first.digest(), second.digest()]);
    expect(digestA).toBe(`sha512:${createHash('sha512').update(a).digest('hex')}`);
    expect(digestB).toBe(`sha256:${createHash('sha256').update(b).digest('hex')}`);
  });

  it('a disposed hasher does not disturb the others', async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    const dropped = new ThreadedHasher();
    await feed(dropped, bytes, 300_000);
    dropped.dispose();
    const kept = new ThreadedHasher();
    await feed(kept, bytes, 300_000);
    expect(await kept.digest()).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });
});

describe('updateOwned', () => {
  it.each([
    ['ThreadedHasher', () => new ThreadedHasher()],
    ['InlineHasher', () => new InlineHasher()],
  ])('%s: owned blocks mixed with copied chunks hash in order, and each block comes back whole', async (_name, make: () => AsyncHasher) => {
    const copied = randomBytes(300_000);
    const owned = randomBytes(1024 * 1024);
    const tail = randomBytes(77);
    const hasher = make();
    await feed(hasher, copied, 65_536);
    const block = new ArrayBuffer(owned.byteLength + 10);
    new Uint8Array(block).set(owned);
    const back = await hasher.updateOwned(block, owned.byteLength);
    expect(back.byteLength).toBe(owned.byteLength + 10);
    expect(Buffer.from(back, 0, owned.byteLength).equals(owned)).toBe(true);
    await feed(hasher, tail, 10);
    expect(hasher.size).toBe(copied.byteLength + owned.byteLength + tail.byteLength);
    expect(await hasher.digest()).toBe(`sha256:${createHash('sha256').update(copied).update(owned).update(tail).digest('hex')}`);
  });

  it('a disposed ThreadedHasher releases the writers waiting for their blocks', async () => {
    const hasher = new ThreadedHasher();
    const pending = hasher.updateOwned(new ArrayBuffer(4 * 1024 * 1024), 4 * 1024 * 1024);
    hasher.dispose();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('hasherFor and asyncVerifyResult', () => {
  it('hashes small content inline and large content on the worker', () => {
    expect(hasherFor('sha256', 1000)).toBeInstanceOf(InlineHasher);
    const threaded = hasherFor('sha256', threadedHashMinimumBytes);
    expect(threaded).toBeInstanceOf(ThreadedHasher);
    threaded.dispose();
  });

  it('reports size before digest, with the codes of verifyResult', async () => {
    const bytes = Buffer.from('hello');
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const ok = new InlineHasher();
    ok.update(bytes);
    expect(await asyncVerifyResult(ok, { digest, size: 5 }, 'x')).toBeNull();
    const short = new ThreadedHasher();
    await short.update(bytes.subarray(0, 4));
    expect((await asyncVerifyResult(short, { digest, size: 5 }, 'x'))?.code).toBe('SIZE_MISMATCH');
    const wrong = new ThreadedHasher();
    await wrong.update(Buffer.from('hellp'));
    expect((await asyncVerifyResult(wrong, { digest, size: 5 }, 'x'))?.code).toBe('DIGEST_MISMATCH');
  });
});
