/**
 * Writes a download to a file while it is hashed, with each byte copied once in user space. Chunks from the
 * network (64 KiB or less) are copied into 2 MiB blocks; a full block is written at its offset (on libuv's
 * thread pool), then handed to the hasher (transferred to the hashing thread for large blobs, not copied)
 * and comes back to the pool once hashed. Up to {@link blocksInFlight} blocks are out at once, so the socket,
 * the disk and the hash work side by side and memory stays flat.
 *
 * Measured on a 2-core machine: blocks must be plain `ArrayBuffer`s (V8 copies into a `SharedArrayBuffer`
 * with a slow relaxed memmove), writes must go one at a time (concurrent writes to one file spin on its
 * inode lock: seconds of system time per GiB), and in slices (`writeSliceBytes` of oci/threaded-hasher.ts on
 * the hashing thread, {@link inlineWriteSliceBytes} from the main thread).
 */
import type { FileHandle } from 'node:fs/promises';
import { StowageError, describeError } from '../errors.js';
import type { AsyncHasher } from '../oci/threaded-hasher.js';

/**
 * Bytes per block. Measured on a 2-core machine (1 GiB pull, 14 alternating runs each): 2 MiB blocks took
 * 1.82 s (median) against 1.92 s with 1 MiB ones, half the messages to the hashing thread, in the same
 * peak memory.
 */
export const blockBytes = 2 * 1024 * 1024;
/**
 * Bytes per write call for content hashed on the main thread (smaller than 8 MiB: `HashingFileWriter.writeThenHash`).
 * Each call there is a round trip through libuv's thread pool, ~60 µs of main-thread time on 2 cores: a
 * pull of 100 files of 1 MiB took 1.05-1.19 s in 32 KiB calls and 0.94-1.03 s in 256 KiB calls. Large
 * content goes through the hashing thread in its smaller `writeSliceBytes` calls instead.
 */
const inlineWriteSliceBytes = 256 * 1024;
/**
 * Blocks one writer may have at the disk or the hasher at once. Measured on a 2-core machine (1 GiB pull,
 * medians of 5): 4 is as fast as 8, and its peak memory 8-10 MiB lower.
 */
export const blocksInFlight = 4;
/** Free blocks kept for the next writer (the pool's memory bound when idle). */
const poolLimit = 4;
const pool: ArrayBuffer[] = [];

function takeBlock(): ArrayBuffer {
  return pool.pop() ?? new ArrayBuffer(blockBytes);
}

function returnBlock(block: ArrayBuffer): void {
  if (pool.length < poolLimit && block.byteLength === blockBytes) pool.push(block);
}

/** Writes to an open file from `start` on, feeding `hasher` with the same bytes, in order. */
export class HashingFileWriter {
  private current: ArrayBuffer | undefined;
  private filled = 0;
  private position: number;
  private out = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private lastWrite: Promise<unknown> = Promise.resolve();
  private waiter: (() => void) | undefined;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly handle: FileHandle,
    start: number,
    private readonly hasher: AsyncHasher,
    private readonly what: string,
  ) {
    this.position = start;
  }

  /**
   * Takes `chunk` (it may be reused once this returns). When it returns a promise, await it before the next
   * write: every block is out.
   * @throws what a write or the hasher failed with earlier.
   */
  write(chunk: Uint8Array): void | Promise<void> {
    if (this.failure !== undefined) throw this.failure.error;
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.current === undefined) {
        if (this.out >= blocksInFlight) {
          const rest = chunk.subarray(at);
          return this.whenBlockFree().then(() => this.write(rest));
        }
        this.current = takeBlock();
        this.filled = 0;
      }
      const length = Math.min(chunk.byteLength - at, blockBytes - this.filled);
      new Uint8Array(this.current, this.filled, length).set(chunk.subarray(at, at + length));
      this.filled += length;
      at += length;
      if (this.filled === blockBytes) this.dispatch();
    }
    return undefined;
  }

  /**
   * Writes what is left and waits until every byte is on the file and hashed.
   * @throws StowageError `IO` (the write failed), and what the hasher failed with.
   */
  async finish(): Promise<void> {
    if (this.failure === undefined && this.current !== undefined && this.filled > 0) this.dispatch();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    if (this.current !== undefined) {
      returnBlock(this.current);
      this.current = undefined;
    }
    if (this.failure !== undefined) throw this.failure.error;
  }

  private dispatch(): void {
    const block = this.current;
    if (block === undefined) return;
    const length = this.filled;
    const position = this.position;
    this.current = undefined;
    this.filled = 0;
    this.position += length;
    this.out += 1;
    const task = this.hasher.writeAndHash === undefined ? this.writeThenHash(block, length, position) : this.writeOnHashingThread(block, length, position);
    const settled = task.then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= { error };
      },
    );
    this.inFlight.add(settled);
    void settled.finally(() => {
      this.inFlight.delete(settled);
      this.out -= 1;
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter?.();
    });
  }

  /**
   * The hashing thread writes the block, then hashes it: no write goes through libuv's thread pool, and the
   * main thread only receives and copies (one fewer thread to wake per block on a 2-core machine).
   */
  private writeOnHashingThread(block: ArrayBuffer, length: number, position: number): Promise<ArrayBuffer> {
    const writeAndHash = this.hasher.writeAndHash?.bind(this.hasher);
    if (this.failure !== undefined || writeAndHash === undefined) return Promise.resolve(block);
    const hashed = writeAndHash(block, length, this.handle.fd, position, this.what);
    void hashed.then(returnBlock, () => undefined);
    return hashed;
  }

  /**
   * Writes go one at a time; each block reaches the hasher once it is on the file, so in order, and is
   * hashed while the next block is written.
   */
  private writeThenHash(block: ArrayBuffer, length: number, position: number): Promise<ArrayBuffer> {
    const written = this.lastWrite.then(async () => {
      if (this.failure !== undefined) return block;
      for (let at = 0; at < length; at += inlineWriteSliceBytes) {
        const slice = Math.min(inlineWriteSliceBytes, length - at);
        let bytesWritten: number;
        try {
          ({ bytesWritten } = await this.handle.write(new Uint8Array(block, at, slice), 0, slice, position + at));
        } catch (error) {
          throw new StowageError('IO', `${this.what}: writing failed: ${describeError(error)}`, { cause: error });
        }
        if (bytesWritten !== slice) throw new StowageError('IO', `${this.what}: short write at byte ${position + at}`);
      }
      return block;
    });
    this.lastWrite = written.catch(() => undefined);
    return written.then((done) => {
      const hashed = this.failure === undefined ? this.hasher.updateOwned(done, length) : Promise.resolve(done);
      void hashed.then(returnBlock, () => undefined);
      return hashed;
    });
  }

  private whenBlockFree(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiter = () => {
        if (this.failure === undefined) resolve();
        else reject(this.failure.error instanceof Error ? this.failure.error : new StowageError('IO', `${this.what}: ${describeError(this.failure.error)}`));
      };
    });
  }
}
