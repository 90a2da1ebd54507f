import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashingFileWriter, blockBytes, blocksInFlight } from '../../src/content/hashing-file-writer.js';
import { InlineHasher, ThreadedHasher, type AsyncHasher } from '../../src/oci/threaded-hasher.js';
import { expectCode } from '../helpers/expect-code.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stowage-writer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `bytes` in chunks of `chunk` bytes, waiting when the writer asks to. */
async function writeAll(writer: HashingFileWriter, bytes: Buffer, chunk: number): Promise<number> {
  let waits = 0;
  for (let at = 0; at < bytes.byteLength; at += chunk) {
    const pending = writer.write(bytes.subarray(at, at + chunk));
    if (pending !== undefined) {
      waits += 1;
      await pending;
    }
  }
  await writer.finish();
  return waits;
}

const sha256 = (bytes: Uint8Array): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('HashingFileWriter', () => {
  it.each([
    ['threaded, many blocks in odd chunks', () => new ThreadedHasher(), 9 * 1024 * 1024 + 5, 65_537],
    ['inline, less than a block', () => new InlineHasher(), 300_001, 4096],
    ['threaded, chunks larger than a block', () => new ThreadedHasher(), 3 * 1024 * 1024 + 1, 2 * 1024 * 1024 + 7],
    ['inline, nothing', () => new InlineHasher(), 0, 1],
  ])('%s: the file holds the bytes and the hasher saw them in order', async (_what, makeHasher: () => AsyncHasher, size, chunk) => {
    const bytes = randomBytes(size);
    const path = join(dir, 'blob');
    const handle = await open(path, 'wx');
    const hasher = makeHasher();
    try {
      await writeAll(new HashingFileWriter(handle, 0, hasher, 'write blob'), bytes, chunk);
    } finally {
      await handle.close();
    }
    expect(hasher.size).toBe(size);
    expect(await hasher.digest()).toBe(sha256(bytes));
    expect((await readFile(path)).equals(bytes)).toBe(true);
  });

  it('writes after the bytes already in the file when it starts at an offset', async () => {
    const head = randomBytes(1000);
    const tail = randomBytes(2 * 1024 * 1024 + 3);
    const path = join(dir, 'blob');
    await writeFile(path, head);
    const hasher = new ThreadedHasher();
    await hasher.update(head);
    const handle = await open(path, 'r+');
    try {
      await writeAll(new HashingFileWriter(handle, head.byteLength, hasher, 'write blob'), tail, 100_000);
    } finally {
      await handle.close();
    }
    const whole = Buffer.concat([head, tail]);
    expect(await hasher.digest()).toBe(sha256(whole));
    expect((await readFile(path)).equals(whole)).toBe(true);
  });

  it('holds the writer back when every block is out, instead of buffering without bound', async () => {
    const path = join(dir, 'blob');
    const handle = await open(path, 'wx');
    const hasher = new ThreadedHasher();
    let waits: number;
    try {
      // One chunk as large as every block at once, and more: it cannot all be taken without waiting.
      waits = await writeAll(new HashingFileWriter(handle, 0, hasher, 'write blob'), randomBytes((blocksInFlight + 2) * blockBytes), (blocksInFlight + 2) * blockBytes);
    } finally {
      await handle.close();
      hasher.dispose();
    }
    expect(waits).toBe(1);
  });

  it('a failed write fails finish() with IO and the writes after it, and leaves nothing waiting', async () => {
    const path = join(dir, 'blob');
    await writeFile(path, '');
    // Opened for reading only: every write fails (EBADF).
    const handle = await open(path, 'r');
    const hasher = new ThreadedHasher();
    const writer = new HashingFileWriter(handle, 0, hasher, 'write blob');
    try {
      const bytes = randomBytes(3 * 1024 * 1024);
      await expect(writeAll(writer, bytes, 1024 * 1024)).rejects.toMatchObject({ code: 'IO', message: expect.stringMatching(/write blob: writing failed/) as unknown });
      expectCode(() => writer.write(new Uint8Array(1)), 'IO');
    } finally {
      await handle.close();
      hasher.dispose();
    }
  });
});
