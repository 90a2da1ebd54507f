/**
 * A cache of file digests keyed by path and file identity (device, inode, size, modification and change
 * times), so pushing an unchanged file again can ask the registry with a HEAD instead of reading the file.
 * Kept as one JSON file in the state directory; several processes may share it (the last writer wins an
 * entry, nothing is ever wrong, at worst a file is hashed again).
 */
import { join, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { isValidDigest } from '../oci/digest.js';
import { fileIdentitySchema, lastChangeMs, sameIdentity, type FileIdentity } from './file-identity.js';
import { ensureStateDirectory, readJsonFile, writeJsonFile } from './state-directory.js';

/** Options of {@link DigestCache.open}. */
export interface DigestCacheOptions {
  /** Entries kept, the most recently used first. Default 10,000. */
  maxEntries?: number;
  /** Entries unused for this long are dropped. Default 30 days. */
  maxAgeMs?: number;
  /**
   * A file changed this little before it was read is not cached: file times have a granularity (a clock
   * tick on Linux, 2 s on FAT), so a write in the same tick after the read would leave the identity as it
   * was (git calls this "racy"). Default 2,000 ms.
   */
  racyWindowMs?: number;
}

const entrySchema = fileIdentitySchema.extend({
  digest: z.string().refine(isValidDigest),
  usedAt: z.number(),
});
type Entry = z.infer<typeof entrySchema>;
const cacheFileSchema = z.object({ version: z.literal(1), entries: z.record(z.string(), z.unknown()) });

/** The cache file in a state directory. */
export const digestCacheFileName = 'digests.json';

function parseEntries(value: unknown): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  const parsed = cacheFileSchema.safeParse(value);
  if (!parsed.success) return entries;
  for (const [path, raw] of Object.entries(parsed.data.entries)) {
    const entry = entrySchema.safeParse(raw);
    if (entry.success) entries.set(path, entry.data);
  }
  return entries;
}

/** File digests remembered between runs; see the module comment. */
export class DigestCache {
  /** The JSON file the cache is kept in. */
  readonly file: string;
  private readonly entries: Map<string, Entry>;
  private readonly changed = new Set<string>();
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  private readonly racyWindowMs: number;

  private constructor(file: string, entries: Map<string, Entry>, options: DigestCacheOptions) {
    this.file = file;
    this.entries = entries;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxAgeMs = options.maxAgeMs ?? 30 * 24 * 60 * 60 * 1000;
    this.racyWindowMs = options.racyWindowMs ?? 2_000;
  }

  /**
   * Reads the cache of a state directory (an empty cache when there is none, or it is unreadable as JSON).
   * @throws StowageError `IO` when the file exists but cannot be read.
   */
  static async open(directory: string, options: DigestCacheOptions = {}): Promise<DigestCache> {
    const file = join(directory, digestCacheFileName);
    return new DigestCache(file, parseEntries(await readJsonFile(file)), options);
  }

  /** An empty cache that is never saved (for callers that want no state on disk). */
  static inMemory(options: DigestCacheOptions = {}): DigestCache {
    return new DigestCache('', new Map(), options);
  }

  /** The digest recorded for `path` when the file is still the same version (`identity`), else undefined. */
  get(path: string, identity: FileIdentity): string | undefined {
    const key = resolvePath(path);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (!sameIdentity(entry, identity)) return undefined;
    entry.usedAt = Date.now();
    this.changed.add(key);
    return entry.digest;
  }

  /**
   * Records the digest of `path` as it was when `identity` was taken, `readStartedAt` (ms since the epoch) being
   * when the bytes hashed began to be read. A file that changed within the racy window before that is not
   * recorded (and a previous entry is dropped).
   */
  set(path: string, identity: FileIdentity, digest: string, readStartedAt: number): void {
    const key = resolvePath(path);
    this.changed.add(key);
    if (lastChangeMs(identity) > readStartedAt - this.racyWindowMs) {
      this.entries.delete(key);
      return;
    }
    this.entries.set(key, { ...identity, digest, usedAt: Date.now() });
  }

  /**
   * Writes the entries this process used or changed into the cache file, merged with what other processes
   * wrote meanwhile, dropping old entries beyond the limits. Nothing to do for an in-memory cache.
   * @throws StowageError `IO`.
   */
  async save(): Promise<void> {
    if (this.file === '' || this.changed.size === 0) return;
    const onDisk = parseEntries(await readJsonFile(this.file));
    for (const key of this.changed) {
      const ours = this.entries.get(key);
      if (ours === undefined) onDisk.delete(key);
      else onDisk.set(key, ours);
    }
    const cutoff = Date.now() - this.maxAgeMs;
    const kept = [...onDisk.entries()]
      .filter(([, entry]) => entry.usedAt >= cutoff)
      .sort((a, b) => b[1].usedAt - a[1].usedAt)
      .slice(0, this.maxEntries);
    await ensureStateDirectory(join(this.file, '..'));
    await writeJsonFile(this.file, { version: 1, entries: Object.fromEntries(kept) });
    this.changed.clear();
  }
}
