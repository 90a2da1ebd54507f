/**
 * Upload sessions kept between runs, so an interrupted push of a large file continues from the registry's
 * offset when the same push runs again. One small JSON file per (registry, repository, file path) under
 * `<state directory>/uploads/`, holding the file's identity, the session's last `Location` and the offset
 * the registry acknowledged. A session for another version of the file, or older than the registries keep
 * sessions (docker-registry purges them after 7 days by default), is forgotten.
 */
import { createHash } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { fileIdentitySchema, sameIdentity, type FileIdentity } from '../content/file-identity.js';
import { ensureStateDirectory, readJsonFile, writeJsonFile } from '../content/state-directory.js';

/** Which upload a session belongs to. */
export interface UploadSessionKey {
  /** The registry's API base URL (`http(s)://host[:port]/`). */
  registry: string;
  repository: string;
  /** The file's path (made absolute). */
  path: string;
  /** The version of the file the session holds bytes of. */
  identity: FileIdentity;
}

/** A session to continue. */
export interface SavedUploadSession {
  location: URL;
  /** The offset the registry acknowledged last (the registry is asked again before continuing). */
  offset: number;
  updatedAt: number;
}

/** Options of {@link UploadSessions}. */
export interface UploadSessionsOptions {
  /** Sessions older than this are forgotten. Default 7 days. */
  maxAgeMs?: number;
}

const sessionFileSchema = z.object({
  version: z.literal(1),
  registry: z.string(),
  repository: z.string(),
  path: z.string(),
  identity: fileIdentitySchema,
  location: z.url(),
  offset: z.number().int().nonnegative(),
  updatedAt: z.number(),
});

/** The directory of session files in a state directory. */
export const uploadSessionsDirectoryName = 'uploads';

/** Upload sessions remembered between runs; see the module comment. */
export class UploadSessions {
  /** Where the session files are. */
  readonly directory: string;
  private readonly maxAgeMs: number;
  private swept = false;

  constructor(stateDirectory: string, options: UploadSessionsOptions = {}) {
    this.directory = join(stateDirectory, uploadSessionsDirectoryName);
    this.maxAgeMs = options.maxAgeMs ?? 7 * 24 * 60 * 60 * 1000;
  }

  /**
   * The session saved for `key`, if it is for the same version of the file and recent enough. A session for
   * another version is returned as `stale` (the caller may cancel it at the registry) and forgotten.
   * @throws StowageError `IO`.
   */
  async find(key: UploadSessionKey): Promise<{ session?: SavedUploadSession; stale?: URL }> {
    await this.sweep();
    const file = this.fileOf(key);
    const parsed = sessionFileSchema.safeParse(await readJsonFile(file));
    if (!parsed.success) {
      await rm(file, { force: true });
      return {};
    }
    const saved = parsed.data;
    const location = new URL(saved.location);
    if (saved.registry !== key.registry || saved.repository !== key.repository || saved.path !== resolvePath(key.path)) return {};
    if (!sameIdentity(saved.identity, key.identity) || Date.now() - saved.updatedAt > this.maxAgeMs) {
      await rm(file, { force: true });
      return { stale: location };
    }
    return { session: { location, offset: saved.offset, updatedAt: saved.updatedAt } };
  }

  /**
   * Records where the upload of `key` stands.
   * @throws StowageError `IO`.
   */
  async save(key: UploadSessionKey, location: URL, offset: number): Promise<void> {
    await ensureStateDirectory(this.directory);
    await writeJsonFile(this.fileOf(key), {
      version: 1,
      registry: key.registry,
      repository: key.repository,
      path: resolvePath(key.path),
      identity: key.identity,
      location: location.href,
      offset,
      updatedAt: Date.now(),
    });
  }

  /** Forgets the session of `key` (the upload finished or was cancelled). */
  async forget(key: UploadSessionKey): Promise<void> {
    await rm(this.fileOf(key), { force: true });
  }

  /** One file per (registry, repository, path): a new version of the file replaces the old session. */
  private fileOf(key: UploadSessionKey): string {
    const name = createHash('sha256').update(JSON.stringify([key.registry, key.repository, resolvePath(key.path)])).digest('hex');
    return join(this.directory, `${name}.json`);
  }

  /** Once per instance: removes session files older than the age limit (and temp files left by a crash). */
  private async sweep(): Promise<void> {
    if (this.swept) return;
    this.swept = true;
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch {
      return;
    }
    const cutoff = Date.now() - this.maxAgeMs;
    await Promise.all(
      names.map(async (name) => {
        const path = join(this.directory, name);
        try {
          if ((await stat(path)).mtimeMs < cutoff) await rm(path, { force: true });
        } catch {
          // Another process removed it first.
        }
      }),
    );
  }
}
