/**
 * Hashing on a worker thread. A download that hashes on the main thread spends as long hashing as receiving
 * (sha256 runs at about 1 GiB/s here), and while it hashes it neither reads the socket nor feeds the disk:
 * moving the hash to a worker cut a 1 GiB pull from ~3.0 s to ~2.1 s on a 2-core machine. Bytes are copied
 * into 1 MiB blocks (chunks from the network may share memory with others, so they cannot be transferred),
 * and the blocks are transferred to the worker and back; a hasher holds at most four, so memory stays flat.
 * One worker serves every hasher of the process; it does not keep the process alive when idle.
 */
import { Worker } from 'node:worker_threads';
import { StowageError } from '../errors.js';
import { Hasher, type DigestAlgorithm, type Expected } from './digest.js';

/** An incremental hasher whose digest may be computed elsewhere: feed it with `update`, then await `digest`. */
export interface AsyncHasher {
  readonly algorithm: DigestAlgorithm;
  /** Bytes hashed so far (given to `update`). */
  readonly size: number;
  /** Hashes `chunk`; when it returns a promise, wait for it before the next update (back-pressure). */
  update(chunk: Uint8Array): void | Promise<void>;
  /**
   * Hashes the first `length` bytes of `block` without copying them: the block may be transferred to the
   * hashing thread (detached here) and comes back as the promise's value once hashed. Updates stay in the
   * order they are made.
   */
  updateOwned(block: ArrayBuffer, length: number): Promise<ArrayBuffer>;
  /**
   * As {@link updateOwned}, and first writes the bytes to the open file `fd` at `position`, on the hashing
   * thread (in calls of {@link writeSliceBytes}): the main thread neither waits for nor dispatches the write.
   * Writes and hashes happen in the order of the calls. The caller keeps `fd` open until the promise settles.
   * `what` names the operation in the error.
   * Optional: only hashers with a thread of their own have it.
   * @throws StowageError `IO` (the write failed; the bytes are not hashed).
   */
  writeAndHash?(block: ArrayBuffer, length: number, fd: number, position: number, what?: string): Promise<ArrayBuffer>;
  /**
   * The digest; the hasher cannot be updated afterwards.
   * @throws StowageError `IO` when the worker failed.
   */
  digest(): Promise<string>;
  /** Releases the hasher without a digest (after a failure). */
  dispose(): void;
}

/** Content smaller than this is hashed on the main thread: a worker round trip would cost more than it saves. */
export const threadedHashMinimumBytes = 8 * 1024 * 1024;

const blockBytes = 1024 * 1024;
const blocksPerHasher = 4;
/**
 * Bytes per write call, as small as ORAS's. Linux 6.18's ext4 gives a buffered write a page-cache folio as
 * large as the call, and on the 2-core VM of the bench large folios were slow to fill whenever the
 * machine had just moved gigabytes (a registry taking pushes): `perf` put half of a 1 GiB pull's samples in
 * `copy_folio_from_iter_atomic`. 1 MiB calls cost ~4 s of system time per GiB there, 256 KiB calls 2-5 s
 * after the bench's pushes, 32 KiB calls 1.1-1.4 s (ORAS's own). On an idle machine 32 KiB calls are as
 * fast as 256 KiB ones (2.06-2.25 s against 2.23-2.45 s for a 1 GiB pull).
 */
export const writeSliceBytes = 32 * 1024;

// The worker: plain CommonJS, evaluated from this string so it runs the same from dist/ and from sources.
const workerSource = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { writeSync } = require('node:fs');
const hashes = new Map();
function writeAll(fd, bytes, position) {
  for (let at = 0; at < bytes.byteLength; ) {
    const length = Math.min(${writeSliceBytes}, bytes.byteLength - at);
    const written = writeSync(fd, bytes, at, length, position + at);
    if (written <= 0) throw new Error('short write at byte ' + (position + at));
    at += written;
  }
}
parentPort.on('message', (message) => {
  switch (message.type) {
    case 'create':
      hashes.set(message.id, createHash(message.algorithm));
      break;
    case 'update':
      hashes.get(message.id).update(new Uint8Array(message.buffer, 0, message.length));
      parentPort.postMessage({ type: 'returned', id: message.id, buffer: message.buffer }, [message.buffer]);
      break;
    case 'owned': {
      const bytes = new Uint8Array(message.buffer, 0, message.length);
      let failure;
      if (message.fd !== undefined) {
        try {
          writeAll(message.fd, bytes, message.position);
        } catch (error) {
          failure = error && error.message ? error.message : String(error);
        }
      }
      if (failure === undefined) hashes.get(message.id).update(bytes);
      parentPort.postMessage({ type: 'hashed', id: message.id, buffer: message.buffer, failure }, [message.buffer]);
      break;
    }
    case 'digest': {
      const hash = hashes.get(message.id);
      hashes.delete(message.id);
      parentPort.postMessage({ type: 'digest', id: message.id, digest: hash.digest('hex') });
      break;
    }
    case 'dispose':
      hashes.delete(message.id);
      break;
  }
});
`;

type FromWorker =
  | { type: 'returned'; id: number; buffer: ArrayBuffer }
  | { type: 'hashed'; id: number; buffer: ArrayBuffer; failure?: string }
  | { type: 'digest'; id: number; digest: string };

function isFromWorker(value: unknown): value is FromWorker {
  if (typeof value !== 'object' || value === null || !('type' in value) || !('id' in value) || typeof value.id !== 'number') return false;
  if (value.type === 'returned') return 'buffer' in value && value.buffer instanceof ArrayBuffer;
  if (value.type === 'hashed') {
    return 'buffer' in value && value.buffer instanceof ArrayBuffer && (!('failure' in value) || value.failure === undefined || typeof value.failure === 'string');
  }
  return value.type === 'digest' && 'digest' in value && typeof value.digest === 'string';
}

interface Listener {
  returned(buffer: ArrayBuffer): void;
  hashed(buffer: ArrayBuffer, failure: string | undefined): void;
  digest(hex: string): void;
  failed(error: StowageError): void;
}

/** The process's hashing worker, started on first use; referenced only while some hasher waits for it. */
class HashWorker {
  private worker: Worker | undefined;
  private readonly listeners = new Map<number, Listener>();
  private nextId = 0;
  private waiting = 0;

  open(listener: Listener, algorithm: DigestAlgorithm): number {
    const worker = this.start();
    const id = ++this.nextId;
    this.listeners.set(id, listener);
    worker.postMessage({ type: 'create', id, algorithm });
    return id;
  }

  update(id: number, buffer: ArrayBuffer, length: number): void {
    this.hold();
    this.start().postMessage({ type: 'update', id, buffer, length }, [buffer]);
  }

  /** A caller's block, transferred and sent back once hashed (and first written to `fd`, when given). */
  updateOwned(id: number, buffer: ArrayBuffer, length: number, write?: { fd: number; position: number }): void {
    this.hold();
    this.start().postMessage({ type: 'owned', id, buffer, length, ...write }, [buffer]);
  }

  warm(): void {
    this.start();
  }

  get running(): boolean {
    return this.worker !== undefined;
  }

  digest(id: number): void {
    this.hold();
    this.start().postMessage({ type: 'digest', id });
  }

  close(id: number, dispose: boolean): void {
    this.listeners.delete(id);
    if (dispose) this.worker?.postMessage({ type: 'dispose', id });
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(workerSource, { eval: true });
    worker.unref();
    worker.on('message', (message: unknown) => {
      if (!isFromWorker(message)) return;
      this.release();
      const listener = this.listeners.get(message.id);
      if (message.type === 'digest') listener?.digest(message.digest);
      else if (message.type === 'hashed') listener?.hashed(message.buffer, message.failure);
      else listener?.returned(message.buffer);
    });
    const fail = (error: unknown): void => {
      this.worker = undefined;
      this.waiting = 0;
      const failure = new StowageError('IO', `hashing worker failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      const listeners = [...this.listeners.values()];
      this.listeners.clear();
      for (const listener of listeners) listener.failed(failure);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.worker === worker) fail(new Error(`exited with code ${code}`));
    });
    this.worker = worker;
    return worker;
  }

  // While an answer is due, the worker keeps the process alive: otherwise a pull awaiting its digest could end early.
  private hold(): void {
    if (this.waiting++ === 0) this.worker?.ref();
  }

  private release(): void {
    if (this.waiting > 0 && --this.waiting === 0) this.worker?.unref();
  }
}

const sharedWorker = new HashWorker();

/**
 * Starts the hashing thread now, if it is not running, so that its boot (~35 ms on 2 cores) overlaps what
 * comes before the first large content. It does not keep the process alive.
 */
export function startHashWorker(): void {
  sharedWorker.warm();
}

/** True while the hashing thread runs (it was started and has not failed). */
export function hashWorkerRunning(): boolean {
  return sharedWorker.running;
}

/** An {@link AsyncHasher} that hashes on the shared worker thread; see the module comment. */
export class ThreadedHasher implements AsyncHasher {
  readonly algorithm: DigestAlgorithm;
  private readonly id: number;
  private readonly free: ArrayBuffer[] = [];
  private current: ArrayBuffer | undefined;
  private filled = 0;
  private count = 0;
  private blockWaiter: (() => void) | undefined;
  /** Callers' blocks at the worker, oldest first: the worker answers in order. */
  private readonly ownedWaiters: { resolve: (block: ArrayBuffer) => void; reject: (error: StowageError) => void; what?: string }[] = [];
  private digestWaiter: { resolve: (hex: string) => void; reject: (error: StowageError) => void } | undefined;
  private failure: StowageError | undefined;
  private finished = false;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    for (let i = 0; i < blocksPerHasher; i++) this.free.push(new ArrayBuffer(blockBytes));
    this.id = sharedWorker.open(
      {
        returned: (buffer) => {
          this.free.push(buffer);
          this.wake();
        },
        hashed: (buffer, failure) => {
          const waiter = this.ownedWaiters.shift();
          if (failure === undefined) {
            waiter?.resolve(buffer);
            return;
          }
          // A failed write: the bytes were not hashed, so the digest would be wrong; nothing more is taken.
          this.failure = new StowageError('IO', `${waiter?.what ?? 'write'}: writing failed: ${failure}`);
          waiter?.reject(this.failure);
        },
        digest: (hex) => {
          sharedWorker.close(this.id, false);
          this.digestWaiter?.resolve(`${this.algorithm}:${hex}`);
        },
        failed: (error) => {
          this.failure = error;
          this.wake();
          for (const waiter of this.ownedWaiters.splice(0)) waiter.reject(error);
          this.digestWaiter?.reject(error);
        },
      },
      algorithm,
    );
  }

  get size(): number {
    return this.count;
  }

  update(chunk: Uint8Array): void | Promise<void> {
    if (this.finished) throw new StowageError('INVALID_ARGUMENT', 'hasher already finished');
    if (this.failure !== undefined) throw this.failure;
    this.count += chunk.byteLength;
    return this.copy(chunk, 0);
  }

  updateOwned(block: ArrayBuffer, length: number): Promise<ArrayBuffer> {
    return this.sendOwned(block, length, undefined);
  }

  writeAndHash(block: ArrayBuffer, length: number, fd: number, position: number, what?: string): Promise<ArrayBuffer> {
    return this.sendOwned(block, length, { fd, position }, what);
  }

  private sendOwned(block: ArrayBuffer, length: number, write: { fd: number; position: number } | undefined, what?: string): Promise<ArrayBuffer> {
    if (this.finished) return Promise.reject(new StowageError('INVALID_ARGUMENT', 'hasher already finished'));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    // Bytes copied by `update` and not sent yet come first.
    if (this.current !== undefined && this.filled > 0) this.send();
    this.count += length;
    const done = new Promise<ArrayBuffer>((resolve, reject) => {
      this.ownedWaiters.push({ resolve, reject, ...(what === undefined ? {} : { what }) });
    });
    sharedWorker.updateOwned(this.id, block, length, write);
    return done;
  }

  async digest(): Promise<string> {
    if (this.failure !== undefined) throw this.failure;
    this.finished = true;
    const result = new Promise<string>((resolve, reject) => {
      this.digestWaiter = { resolve, reject };
    });
    if (this.current !== undefined && this.filled > 0) this.send();
    sharedWorker.digest(this.id);
    return result;
  }

  dispose(): void {
    if (this.finished && this.digestWaiter !== undefined) return;
    this.finished = true;
    sharedWorker.close(this.id, true);
    // No answer comes for blocks still at the worker: their writers must not wait for one.
    const released = new StowageError('ABORTED', 'hasher disposed');
    for (const waiter of this.ownedWaiters.splice(0)) waiter.reject(released);
  }

  /** Copies `chunk` from `offset` into blocks, sending each full one; waits when every block is at the worker. */
  private copy(chunk: Uint8Array, offset: number): void | Promise<void> {
    let at = offset;
    while (at < chunk.byteLength) {
      if (this.current === undefined) {
        const block = this.free.pop();
        if (block === undefined) return this.waitForBlock().then(() => this.copy(chunk, at));
        this.current = block;
        this.filled = 0;
      }
      const length = Math.min(chunk.byteLength - at, blockBytes - this.filled);
      new Uint8Array(this.current, this.filled, length).set(chunk.subarray(at, at + length));
      this.filled += length;
      at += length;
      if (this.filled === blockBytes) this.send();
    }
    return undefined;
  }

  private send(): void {
    const block = this.current;
    if (block === undefined) return;
    sharedWorker.update(this.id, block, this.filled);
    this.current = undefined;
    this.filled = 0;
  }

  private waitForBlock(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.blockWaiter = () => {
        if (this.failure !== undefined) reject(this.failure);
        else resolve();
      };
    });
  }

  private wake(): void {
    const waiter = this.blockWaiter;
    this.blockWaiter = undefined;
    waiter?.();
  }
}

/** A {@link Hasher} behind the {@link AsyncHasher} interface: hashes on the calling thread. */
export class InlineHasher implements AsyncHasher {
  readonly algorithm: DigestAlgorithm;
  private readonly hasher: Hasher;

  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hasher = new Hasher(algorithm);
  }

  get size(): number {
    return this.hasher.size;
  }

  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
  }

  updateOwned(block: ArrayBuffer, length: number): Promise<ArrayBuffer> {
    this.hasher.update(new Uint8Array(block, 0, length));
    return Promise.resolve(block);
  }

  digest(): Promise<string> {
    return Promise.resolve(this.hasher.digest());
  }

  dispose(): void {
    // Nothing held.
  }
}

/** A hasher for content of `size` bytes: on the worker thread when large, else inline. */
export function hasherFor(algorithm: DigestAlgorithm, size: number): AsyncHasher {
  return size >= threadedHashMinimumBytes ? new ThreadedHasher(algorithm) : new InlineHasher(algorithm);
}

/**
 * Compares a finished hasher with what was expected; returns the error to raise, if any (as `verifyResult`).
 * @throws StowageError `IO` when the worker failed.
 */
export async function asyncVerifyResult(hasher: AsyncHasher, expected: Expected, what: string): Promise<StowageError | null> {
  if (hasher.size !== expected.size) {
    hasher.dispose();
    return new StowageError('SIZE_MISMATCH', `${what}: received ${hasher.size} bytes, expected ${expected.size}`);
  }
  const actual = await hasher.digest();
  if (actual !== expected.digest) return new StowageError('DIGEST_MISMATCH', `${what}: content has digest ${actual}, expected ${expected.digest}`);
  return null;
}
