/**
 * Docker's `config.json`, as Docker and ORAS read and write it: `auths` (base64 `auth` of `user:pass`, or
 * `username`/`password`, `identitytoken`, ORAS's `registrytoken`), `credsStore` and `credHelpers`. Every other
 * field, and every other field of an `auths` entry, is kept as it was when stowage writes the file.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, realpath, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { OperationOptions } from '../../content/store.js';
import { describeError, StowageError, throwIfAborted } from '../../errors.js';
import { keyMatchesHost, registryHostOf, serverAddressOf } from './server-address.js';
import type { StoredCredentials } from './stored-credentials.js';

/** Where to find config.json. */
export interface DockerConfigPathOptions {
  /** An explicit path (`--registry-config`): wins over everything. */
  configPath?: string | undefined;
  /** The environment to read `DOCKER_CONFIG` and `HOME` from. Default: `process.env`. */
  env?: Record<string, string | undefined>;
}

/**
 * The config file to use: `configPath` when given, else `$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`.
 */
export function dockerConfigPath(options: DockerConfigPathOptions = {}): string {
  if (options.configPath !== undefined && options.configPath !== '') return options.configPath;
  const env = options.env ?? process.env;
  const dockerConfig = env.DOCKER_CONFIG;
  if (dockerConfig !== undefined && dockerConfig !== '') return join(dockerConfig, 'config.json');
  const home = env.HOME !== undefined && env.HOME !== '' ? env.HOME : homedir();
  return join(home, '.docker', 'config.json');
}

const authEntrySchema = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
  registrytoken: z.string().optional(),
});

const dockerConfigSchema = z.looseObject({
  auths: z.record(z.string(), authEntrySchema).optional(),
  credsStore: z.string().optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
});

type DockerConfig = z.infer<typeof dockerConfigSchema>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Fields of an `auths` entry that hold credentials: replaced as a whole when an entry is written.
const credentialFields = ['auth', 'username', 'password', 'identitytoken', 'registrytoken'];

/** The normalised host for a host or address a caller gives (`index.docker.io` -> `docker.io`). */
function normalHost(host: string): string {
  return registryHostOf(host) ?? host.toLowerCase();
}

/** Keys matching `host`: the exact key first, then legacy forms in file order. */
function matchingKeys(record: Record<string, unknown> | undefined, host: string): string[] {
  if (record === undefined) return [];
  const exact = serverAddressOf(host);
  const keys = Object.keys(record).filter((key) => keyMatchesHost(key, host));
  return keys.sort((a, b) => Number(b === exact) - Number(a === exact));
}

/**
 * One config.json, read once. Lookups are by normalised host (see `server-address.ts`: methods take a host
 * or server address and normalise it); changes are made
 * to the document as read, so unknown fields and their order survive, and written by {@link save}.
 */
export class DockerConfigFile {
  /** The file's path (it may not exist yet). */
  readonly path: string;
  private readonly document: Record<string, unknown>;
  private config: DockerConfig;
  private changed = false;

  private constructor(path: string, document: Record<string, unknown>, config: DockerConfig) {
    this.path = path;
    this.document = document;
    this.config = config;
  }

  /**
   * Reads the file; a missing or empty file is an empty config.
   * @throws StowageError `IO` (unreadable, not JSON, or fields of the wrong type: the message names the
   *   file, never its contents), `ABORTED`.
   */
  static async load(path: string, options: OperationOptions = {}): Promise<DockerConfigFile> {
    throwIfAborted(options.signal, `read ${path}`);
    let text: string;
    try {
      text = await readFile(path, { encoding: 'utf8', ...(options.signal === undefined ? {} : { signal: options.signal }) });
    } catch (error) {
      throwIfAborted(options.signal, `read ${path}`);
      if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return new DockerConfigFile(path, {}, {});
      throw new StowageError('IO', `read registry config ${path}: ${describeError(error)}`, { cause: error });
    }
    if (text.trim() === '') return new DockerConfigFile(path, {}, {});
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new StowageError('IO', `read registry config ${path}: not valid JSON`);
    }
    const parsed = dockerConfigSchema.safeParse(json);
    if (!parsed.success || !isRecord(json)) {
      const field = parsed.error?.issues[0]?.path.map(String).join('.') ?? '';
      throw new StowageError('IO', `read registry config ${path}: ${field === '' ? 'not a JSON object' : `the field "${field}" has the wrong type`}`);
    }
    return new DockerConfigFile(path, json, parsed.data);
  }

  /** True when {@link save} has something to write. */
  get modified(): boolean {
    return this.changed;
  }

  /** The `credsStore` helper name, if set. */
  get credsStore(): string | undefined {
    const name = this.config.credsStore;
    return name === undefined || name === '' ? undefined : name;
  }

  /** The helper `credHelpers` names for `host` (exact key first, legacy keys too), if any. */
  credHelperFor(registry: string): string | undefined {
    const host = normalHost(registry);
    const helpers = this.config.credHelpers;
    for (const key of matchingKeys(helpers, host)) {
      const name = helpers?.[key];
      if (name !== undefined && name !== '') return name;
    }
    return undefined;
  }

  /**
   * The credentials `auths` holds for `host`: the exact key first, then legacy keys. Entries without
   * credentials (Docker writes `{}` when a credsStore holds the secret) count as none.
   * @throws StowageError `IO` when an `auth` field is not base64 of `user:password`.
   */
  authFor(registry: string): StoredCredentials | undefined {
    const host = normalHost(registry);
    const auths = this.config.auths;
    for (const key of matchingKeys(auths, host)) {
      const entry = auths?.[key];
      if (entry === undefined) continue;
      const credentials = this.decodeEntry(key, entry);
      if (credentials !== undefined) return credentials;
    }
    return undefined;
  }

  private decodeEntry(key: string, entry: z.infer<typeof authEntrySchema>): StoredCredentials | undefined {
    let username = entry.username ?? '';
    let password = entry.password ?? '';
    if (entry.auth !== undefined && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon === -1) throw new StowageError('IO', `read registry config ${this.path}: the "auth" of "${key}" is not base64 of user:password`);
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    const credentials: StoredCredentials = { username, password };
    if (entry.identitytoken !== undefined && entry.identitytoken !== '') credentials.identityToken = entry.identitytoken;
    if (entry.registrytoken !== undefined && entry.registrytoken !== '') credentials.registryToken = entry.registrytoken;
    const empty = username === '' && password === '' && credentials.identityToken === undefined && credentials.registryToken === undefined;
    return empty ? undefined : credentials;
  }

  /**
   * Stores credentials in `auths` under the host's key (`https://index.docker.io/v1/` for Docker Hub), as
   * ORAS does: `auth` = base64(`user:password`), plus `identitytoken` / `registrytoken`. Other fields of an
   * existing entry under that key are kept; legacy keys for the same host are removed.
   */
  setAuth(registry: string, credentials: StoredCredentials): void {
    const host = normalHost(registry);
    const key = serverAddressOf(host);
    const auths = this.section('auths');
    const previous = auths[key];
    const entry: Record<string, unknown> = {};
    if (isRecord(previous)) {
      for (const [name, value] of Object.entries(previous)) if (!credentialFields.includes(name)) entry[name] = value;
    }
    if (credentials.username !== '' || credentials.password !== '') {
      entry.auth = Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64');
    }
    if (credentials.identityToken !== undefined && credentials.identityToken !== '') entry.identitytoken = credentials.identityToken;
    if (credentials.registryToken !== undefined && credentials.registryToken !== '') entry.registrytoken = credentials.registryToken;
    for (const other of matchingKeys(auths, host)) if (other !== key) Reflect.deleteProperty(auths, other);
    auths[key] = entry;
    this.update();
  }

  /** Removes every `auths` entry for `host` (exact and legacy keys). Returns true when one existed. */
  removeAuth(registry: string): boolean {
    return this.removeKeys('auths', normalHost(registry), () => true);
  }

  /** Sets `credHelpers[<host's key>] = name`, replacing legacy keys for the host. */
  setCredHelper(registry: string, name: string): void {
    const host = normalHost(registry);
    const key = serverAddressOf(host);
    const helpers = this.section('credHelpers');
    for (const other of matchingKeys(helpers, host)) if (other !== key) Reflect.deleteProperty(helpers, other);
    helpers[key] = name;
    this.update();
  }

  /** Removes the `credHelpers` entries for `host` that name `name`. Returns true when one existed. */
  removeCredHelper(registry: string, name: string): boolean {
    return this.removeKeys('credHelpers', normalHost(registry), (value) => value === name);
  }

  private removeKeys(sectionName: 'auths' | 'credHelpers', host: string, match: (value: unknown) => boolean): boolean {
    const section = this.document[sectionName];
    if (!isRecord(section)) return false;
    let removed = false;
    for (const key of matchingKeys(section, host)) {
      if (!match(section[key])) continue;
      Reflect.deleteProperty(section, key);
      removed = true;
    }
    if (removed) this.update();
    return removed;
  }

  /** The object at `document[name]`, created when missing. */
  private section(name: 'auths' | 'credHelpers'): Record<string, unknown> {
    const existing = this.document[name];
    if (isRecord(existing)) return existing;
    const created: Record<string, unknown> = {};
    this.document[name] = created;
    return created;
  }

  private update(): void {
    this.changed = true;
    // The document was valid and only credential fields changed: it still parses.
    this.config = dockerConfigSchema.parse(this.document);
  }

  /**
   * Writes the file atomically (a temp file beside it, fsync, rename) with mode 0600, creating its directory
   * (0700) when missing. A config.json that is a symlink is followed: its target is replaced. The temp file
   * is removed on any failure, cancellation included.
   * @throws StowageError `IO`, `ABORTED`.
   */
  async save(options: OperationOptions = {}): Promise<void> {
    const operation = `write registry config ${this.path}`;
    throwIfAborted(options.signal, operation);
    let target = this.path;
    try {
      target = await realpath(this.path);
    } catch {
      // Not there yet (or a dangling link): write the path as given.
    }
    const temp = join(dirname(target), `.stowage-config-${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(this.document, null, '\t')}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      // open()'s mode is filtered by the umask; say it plainly.
      await chmod(temp, 0o600);
      throwIfAborted(options.signal, operation);
      await rename(temp, target);
      this.changed = false;
    } catch (error) {
      await rm(temp, { force: true });
      if (error instanceof StowageError) throw error;
      throw new StowageError('IO', `${operation}: ${describeError(error)}`, { cause: error });
    }
  }
}
