/**
 * Resumed downloads in the FileStore (`resume: true`): what is kept when a write fails, how a kept download
 * is continued, and that nothing unverified ever gets the final name.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStore, partialPathOf } from '../../src/content/file-store.js';
import { MemoryStore } from '../../src/content/memory-store.js';
import { isRangeFetcher, isResumablePusher, type FetchFrom, type RangeContent, type RangeFetcher, type ReadOnlyTarget } from '../../src/content/store.js';
import { copy } from '../../src/copy/copy.js';
import { StowageError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';
import { packManifest } from '../../src/pack/pack.js';
import { expectCode } from '../helpers/store-contract.js';

const made: string[] = [];

async function outputDirectory(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stowage-resume-'));
  made.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

function titled(bytes: Uint8Array, title: string): Descriptor {
  return { mediaType: MediaType.ociLayer, digest: digestOf(bytes), size: bytes.byteLength, annotations: { [Annotation.title]: title } };
}

/** A source over `bytes` that records the offsets asked for; `serve` may change what it answers. */
function rangeSource(bytes: Buffer, serve: (offset: number) => RangeContent = (offset) => ({ offset, content: Readable.from([bytes.subarray(offset)]) })): {
  fetchFrom: FetchFrom;
  asked: number[];
} {
  const asked: number[] = [];
  return {
    asked,
    fetchFrom: (offset) => {
      asked.push(offset);
      return Promise.resolve(serve(offset));
    },
  };
}

/** A stream that yields `bytes`, then fails as a dropped connection does. */
function failingAfter(bytes: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) {
        this.destroy(new StowageError('NETWORK', 'fetch blob: connection reset'));
        return;
      }
      sent = true;
      this.push(bytes);
    },
  });
}

/** Names in `dir`, sorted. */
async function names(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

const blob = randomBytes(3 * 1024 * 1024 + 17);
const desc = titled(blob, 'model.bin');

describe('FileStore with resume', () => {
  it('names a kept download after the target and the digest', () => {
    const hex = desc.digest.slice('sha256:'.length, 'sha256:'.length + 12);
    expect(partialPathOf('/out/model.bin', desc.digest)).toBe(`/out/.model.bin.${hex}.partial`);
  });

  it('keeps what arrived when the connection drops, under the partial name, and nothing under the final name', async () => {
    const out = await outputDirectory();
    const store = new FileStore(out, { resume: true });
    const half = blob.subarray(0, 1024 * 1024);
    const source = rangeSource(blob, (offset) => ({ offset, content: failingAfter(half) }));
    await expectCode(store.pushResumable(desc, source.fetchFrom), 'NETWORK');
    const kept = partialPathOf(join(out, 'model.bin'), desc.digest);
    expect(await names(out)).toEqual([kept.slice(out.length + 1)]);
    expect((await readFile(kept)).equals(half)).toBe(true);
    expect(source.asked).toEqual([0]);
  });

  it('keeps what arrived when aborted (Ctrl-C)', async () => {
    const out = await outputDirectory();
    const store = new FileStore(out, { resume: true });
    const controller = new AbortController();
    const part = blob.subarray(0, 512 * 1024);
    let sent = false;
    const content = new Readable({
      read() {
        if (sent) return;
        sent = true;
        this.push(part);
        // The abort comes while the rest is awaited.
        setTimeout(() => {
          controller.abort();
        }, 10);
      },
    });
    await expectCode(store.pushResumable(desc, () => Promise.resolve({ offset: 0, content }), { signal: controller.signal }), 'ABORTED');
    const kept = await readFile(partialPathOf(join(out, 'model.bin'), desc.digest));
    expect(kept.byteLength).toBeGreaterThan(0);
    expect(kept.equals(blob.subarray(0, kept.byteLength))).toBe(true);
    expect(await names(out)).toHaveLength(1);
  });

  it('continues the download a killed process left under its in-progress name, not one a live process is writing', async () => {
    const out = await outputDirectory();
    const stem = partialPathOf(join(out, 'model.bin'), desc.digest).slice(0, -'.partial'.length);
    // A process that has exited: its id is free (a reuse within this test is not a worry).
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const live = process.ppid;
    const orphan = `${stem}.${String(dead)}-0123abcd.partial`;
    const busy = `${stem}.${String(live)}-4567cdef.partial`;
    await writeFile(orphan, blob.subarray(0, 1024 * 1024));
    await writeFile(busy, blob.subarray(0, 2 * 1024 * 1024));
    const source = rangeSource(blob);
    await new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom);
    // The orphan's bytes were continued (asked from its size), the live writer's file left alone.
    expect(source.asked).toEqual([1024 * 1024]);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual([busy.slice(out.length + 1), 'model.bin'].sort());
  });

  it('lists an output directory once: a download orphaned after the first file went there is not looked for', async () => {
    const out = await outputDirectory();
    const store = new FileStore(out, { resume: true });
    const other = randomBytes(1000);
    await store.pushResumable(titled(other, 'first.bin'), rangeSource(other).fetchFrom);
    // Only now does a killed process's download of model.bin appear.
    const stem = partialPathOf(join(out, 'model.bin'), desc.digest).slice(0, -'.partial'.length);
    const orphan = `${stem}.${String(spawnSync(process.execPath, ['-e', '0']).pid)}-0123abcd.partial`;
    await writeFile(orphan, blob.subarray(0, 1024 * 1024));
    const source = rangeSource(blob);
    await store.pushResumable(desc, source.fetchFrom);
    expect(source.asked).toEqual([0]);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual([orphan.slice(out.length + 1), 'first.bin', 'model.bin'].sort());
    // A new store lists the directory again, finds it and continues it.
    const again = rangeSource(blob);
    await new FileStore(out, { resume: true }).pushResumable(desc, again.fetchFrom);
    expect(again.asked).toEqual([1024 * 1024]);
    expect(await names(out)).toEqual(['first.bin', 'model.bin']);
  });

  it('continues a kept download from its size and verifies the whole', async () => {
    const out = await outputDirectory();
    const kept = partialPathOf(join(out, 'model.bin'), desc.digest);
    await writeFile(kept, blob.subarray(0, 2_000_000));
    const source = rangeSource(blob);
    await new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom);
    expect(source.asked).toEqual([2_000_000]);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual(['model.bin']);
  });

  it('a failed download kept, then continued: the file is whole', async () => {
    const out = await outputDirectory();
    const first = rangeSource(blob, (offset) => ({ offset, content: failingAfter(blob.subarray(0, 1_500_000)) }));
    await expectCode(new FileStore(out, { resume: true }).pushResumable(desc, first.fetchFrom), 'NETWORK');
    const second = rangeSource(blob);
    await new FileStore(out, { resume: true }).pushResumable(desc, second.fetchFrom);
    expect(second.asked).toEqual([1_500_000]);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual(['model.bin']);
  });

  it('a large blob (hashed on the worker thread) continues from its kept bytes too', async () => {
    const out = await outputDirectory();
    const large = randomBytes(12 * 1024 * 1024 + 5);
    const largeDesc = titled(large, 'large.bin');
    await writeFile(partialPathOf(join(out, 'large.bin'), largeDesc.digest), large.subarray(0, 9 * 1024 * 1024 + 1));
    const source = rangeSource(large);
    await new FileStore(out, { resume: true }).pushResumable(largeDesc, source.fetchFrom);
    expect(source.asked).toEqual([9 * 1024 * 1024 + 1]);
    expect((await readFile(join(out, 'large.bin'))).equals(large)).toBe(true);
    const wrong = rangeSource(randomBytes(large.byteLength));
    await expectCode(new FileStore(out, { resume: true }).pushResumable({ ...largeDesc, annotations: { [Annotation.title]: 'other.bin' } }, wrong.fetchFrom), 'DIGEST_MISMATCH');
    expect(await names(out)).toEqual(['large.bin']);
  });

  it('a kept file that is not a prefix of the blob: dropped, the blob fetched again from 0, once', async () => {
    const out = await outputDirectory();
    await writeFile(partialPathOf(join(out, 'model.bin'), desc.digest), randomBytes(1000));
    const source = rangeSource(blob);
    await new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom);
    expect(source.asked).toEqual([1000, 0]);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual(['model.bin']);
  });

  it('a wrong prefix and then wrong content: DIGEST_MISMATCH, no file, no kept bytes', async () => {
    const out = await outputDirectory();
    await writeFile(partialPathOf(join(out, 'model.bin'), desc.digest), randomBytes(1000));
    const wrong = Buffer.from(blob);
    wrong[blob.byteLength - 1] = (wrong[blob.byteLength - 1] ?? 0) ^ 0xff;
    const source = rangeSource(wrong);
    await expectCode(new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom), 'DIGEST_MISMATCH');
    expect(source.asked).toEqual([1000, 0]);
    expect(await names(out)).toEqual([]);
  });

  it('a kept file larger than the blob is dropped, and the blob fetched whole', async () => {
    const out = await outputDirectory();
    await writeFile(partialPathOf(join(out, 'model.bin'), desc.digest), Buffer.concat([blob, Buffer.from('more')]));
    const source = rangeSource(blob);
    await new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom);
    expect(source.asked).toEqual([0]);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual(['model.bin']);
  });

  it('a kept file of the full size is verified and named, with an empty rest', async () => {
    const out = await outputDirectory();
    await writeFile(partialPathOf(join(out, 'model.bin'), desc.digest), blob);
    const source = rangeSource(blob);
    await new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom);
    expect(source.asked).toEqual([blob.byteLength]);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
  });

  it('a source that sends everything (a registry ignoring Range, 200) starts the file over', async () => {
    const out = await outputDirectory();
    await writeFile(partialPathOf(join(out, 'model.bin'), desc.digest), blob.subarray(0, 5000));
    const source = rangeSource(blob, () => ({ offset: 0, content: Readable.from([blob]) }));
    await new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom);
    expect(source.asked).toEqual([5000]);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual(['model.bin']);
  });

  it('a source that answers another offset fails with INVALID_ARGUMENT and keeps nothing', async () => {
    const out = await outputDirectory();
    await writeFile(partialPathOf(join(out, 'model.bin'), desc.digest), blob.subarray(0, 5000));
    const source = rangeSource(blob, () => ({ offset: 4000, content: Readable.from([blob.subarray(4000)]) }));
    await expectCode(new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom), 'INVALID_ARGUMENT');
    expect(await names(out)).toEqual([]);
  });

  it('a source that fails before any byte (the file is opened meanwhile) leaves nothing new, and a kept download as it was', async () => {
    const out = await outputDirectory();
    const refused = (): Promise<RangeContent> => Promise.reject(new StowageError('NOT_FOUND', 'fetch blob: blob unknown'));
    await expectCode(new FileStore(out, { resume: true }).pushResumable(desc, refused), 'NOT_FOUND');
    expect(await names(out)).toEqual([]);
    const kept = partialPathOf(join(out, 'model.bin'), desc.digest);
    await writeFile(kept, blob.subarray(0, 5000));
    await expectCode(new FileStore(out, { resume: true }).pushResumable(desc, refused), 'NOT_FOUND');
    expect(await names(out)).toEqual([kept.slice(out.length + 1)]);
    expect((await readFile(kept)).equals(blob.subarray(0, 5000))).toBe(true);
  });

  it('content that fails verification on a fresh download is not kept', async () => {
    const out = await outputDirectory();
    const wrong = randomBytes(blob.byteLength);
    const source = rangeSource(wrong);
    await expectCode(new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom), 'DIGEST_MISMATCH');
    expect(await names(out)).toEqual([]);
  });

  it('too many bytes fail with SIZE_MISMATCH and are not kept', async () => {
    const out = await outputDirectory();
    const source = rangeSource(blob, () => ({ offset: 0, content: Readable.from([blob, Buffer.from('x')]) }));
    await expectCode(new FileStore(out, { resume: true }).pushResumable(desc, source.fetchFrom), 'SIZE_MISMATCH');
    expect(await names(out)).toEqual([]);
  });

  it('without resume, a failed download leaves nothing, and a kept one is not used', async () => {
    const out = await outputDirectory();
    const source = rangeSource(blob, (offset) => ({ offset, content: failingAfter(blob.subarray(0, 1000)) }));
    await expectCode(new FileStore(out).pushResumable(desc, source.fetchFrom), 'NETWORK');
    expect(await names(out)).toEqual([]);
    const kept = partialPathOf(join(out, 'model.bin'), desc.digest);
    await writeFile(kept, blob.subarray(0, 1000));
    const again = rangeSource(blob);
    await new FileStore(out).pushResumable(desc, again.fetchFrom);
    expect(again.asked).toEqual([0]);
  });

  it('a plain push (a source without ranges) writes from the start and drops a stale kept download', async () => {
    const out = await outputDirectory();
    await writeFile(partialPathOf(join(out, 'model.bin'), desc.digest), blob.subarray(0, 1000));
    await new FileStore(out, { resume: true }).push(desc, Readable.from([blob]));
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual(['model.bin']);
  });

  it('with keepOldFiles, an existing file is an error and a kept download stays for later', async () => {
    const out = await outputDirectory();
    await writeFile(join(out, 'model.bin'), 'old');
    const kept = partialPathOf(join(out, 'model.bin'), desc.digest);
    await writeFile(kept, blob.subarray(0, 1000));
    const source = rangeSource(blob);
    await expectCode(new FileStore(out, { resume: true, keepOldFiles: true }).pushResumable(desc, source.fetchFrom), 'FILE_EXISTS');
    expect(source.asked).toEqual([]);
    expect(await readFile(join(out, 'model.bin'), 'utf8')).toBe('old');
  });
});

describe('copy into a resumable FileStore', () => {
  /** A memory store that also serves ranges, recording them. */
  function rangedMemory(memory: MemoryStore): { target: ReadOnlyTarget & RangeFetcher; offsets: number[] } {
    const offsets: number[] = [];
    const target: ReadOnlyTarget & RangeFetcher = {
      exists: (d, o) => memory.exists(d, o),
      resolve: (r, o) => memory.resolve(r, o),
      fetch: (d, o) => memory.fetch(d, o),
      fetchRange: async (d, offset, o) => {
        offsets.push(offset);
        const stream = await memory.fetch(d, o);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
        return { offset, content: Readable.from([Buffer.concat(chunks).subarray(offset)]) };
      },
    };
    return { target, offsets };
  }

  it('asks the source for the rest, reports the resume point, and counts progress from it', async () => {
    const memory = new MemoryStore();
    await memory.push(desc, blob);
    const packed = packManifest({ files: [desc], created: false });
    for (const extra of packed.blobs) await memory.push(extra.descriptor, extra.bytes);
    await memory.push(packed.descriptor, packed.bytes);
    await memory.tag(packed.descriptor, 'v1');
    const { target, offsets } = rangedMemory(memory);
    expect(isRangeFetcher(target)).toBe(true);

    const out = await outputDirectory();
    await writeFile(partialPathOf(join(out, 'model.bin'), desc.digest), blob.subarray(0, 1_000_000));
    const files = new FileStore(out, { resume: true });
    expect(isResumablePusher(files)).toBe(true);
    const resumed: number[] = [];
    const progress: number[] = [];
    await copy(target, 'v1', files, undefined, {
      successors: (_node, parsed) => (parsed.kind === 'manifest' ? parsed.manifest.layers : []),
      onResumed: (d, offset) => resumed.push(offset),
      onProgress: (d, transferred) => {
        if (d.digest === desc.digest) progress.push(transferred);
      },
    });
    expect(offsets).toEqual([1_000_000]);
    expect(resumed).toEqual([1_000_000]);
    expect(progress[0]).toBeGreaterThan(1_000_000);
    expect(progress.at(-1)).toBe(blob.byteLength);
    expect((await readFile(join(out, 'model.bin'))).equals(blob)).toBe(true);
    expect(await names(out)).toEqual(['model.bin']);
  });
});
