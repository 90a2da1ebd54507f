/**
 * One API over everywhere Docker, ORAS and stowage keep registry credentials.
 *
 * Lookup for a registry host (lowercase `host[:port]`; `docker.io`, `index.docker.io` and
 * `registry-1.docker.io` are one host, stored under `https://index.docker.io/v1/`), in config.json order:
 * 1. `credHelpers[host]`: that helper alone answers;
 * 2. `credsStore`: the default helper; when it has nothing for the host, `auths` is read next;
 * 3. `auths[host]` (legacy keys such as `https://host/` match too).
 *
 * The OS keychain is a helper like the others, named `stowage`: choosing it at login records
 * `"credHelpers": {"<host>": "stowage"}` in config.json, so the file says where every login lives and
 * `docker logout` / `oras logout` style tools see it. stowage serves the `stowage` helper itself, in process;
 * Docker and ORAS run `docker-credential-stowage` (installed with stowage) for it.
 */
import type { OperationOptions } from '../../content/store.js';
import { describeError, StowageError } from '../../errors.js';
import { DockerConfigFile, dockerConfigPath } from './config-file.js';
import { CredentialHelper } from './credential-helper.js';
import { KeychainStore } from './keychain.js';
import { normaliseRegistryHost, serverAddressOf } from './server-address.js';
import { hasCredentials, type StoredCredentials } from './stored-credentials.js';

/** The helper name that means "the OS keychain, through stowage". */
export const keychainHelperName = 'stowage';

/** Where {@link CredentialStore.put} saves: `auto` follows config.json; `file` and `keychain` choose. */
export type CredentialStoreChoice = 'auto' | 'file' | 'keychain';

/** Where credentials were saved or found. */
export type CredentialLocation = 'file' | 'helper' | 'keychain';

/** Options of {@link CredentialStore}. */
export interface CredentialStoreOptions {
  /** config.json to use (`--registry-config`). Default: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
  configPath?: string | undefined;
  /** Environment for `DOCKER_CONFIG`, `HOME` and the helpers' `PATH`. Default: `process.env`. */
  env?: Record<string, string | undefined>;
  /** The keychain to use for the `stowage` helper. Default: a {@link KeychainStore} with service `stowage`. */
  keychain?: KeychainStore;
}

/** Options of {@link CredentialStore.put}. */
export interface PutCredentialsOptions extends OperationOptions {
  /** Default `auto`: the host's `credHelpers` entry, else `credsStore`, else the file. */
  store?: CredentialStoreChoice;
}

/** What {@link CredentialStore.put} did. */
export interface PutCredentialsResult {
  location: CredentialLocation;
  /** The helper used (`location: 'helper'`), e.g. `desktop`. */
  helper?: string;
  /** The config.json read (and written, for `file` and `keychain`). */
  configPath: string;
  /** True when the secret is now in config.json in plain text (base64 is not encryption): warn the user. */
  plainText: boolean;
}

/** What {@link CredentialStore.delete} removed. */
export interface DeleteCredentialsResult {
  /** Every place credentials were removed from (empty when there were none). */
  removed: CredentialLocation[];
  configPath: string;
}

/** Reads, saves and removes registry credentials; see the module comment for the lookup order. */
export class CredentialStore {
  /** The config.json this store reads and writes. */
  readonly configPath: string;
  private readonly env: Record<string, string | undefined>;
  private readonly keychain: KeychainStore;

  constructor(options: CredentialStoreOptions = {}) {
    this.env = options.env ?? process.env;
    this.configPath = dockerConfigPath({ configPath: options.configPath, env: this.env });
    this.keychain = options.keychain ?? new KeychainStore();
  }

  /**
   * The credentials stored for `registry` (a host, `host:port`, or a URL such as `https://index.docker.io/v1/`),
   * or `undefined` when there are none.
   * @throws StowageError `INVALID_ARGUMENT` (not a registry host), `IO` (unreadable config, a failing
   *   helper), `FILE_NOT_FOUND` (a configured helper is not installed), `UNSUPPORTED` (the keychain is
   *   configured for the host but not available), `ABORTED`.
   */
  async get(registry: string, options: OperationOptions = {}): Promise<StoredCredentials | undefined> {
    const host = normaliseRegistryHost(registry);
    const config = await DockerConfigFile.load(this.configPath, options);
    const helper = config.credHelperFor(host);
    if (helper !== undefined) return this.helperGet(helper, host, options);
    const credsStore = config.credsStore;
    if (credsStore !== undefined) {
      const found = await this.helperGet(credsStore, host, options);
      if (found !== undefined) return found;
    }
    return config.authFor(host);
  }

  /**
   * Saves credentials for `registry`. With `store: 'auto'` they go to the host's `credHelpers` helper, else
   * the `credsStore` helper, else config.json. `file` writes config.json (and drops a `credHelpers` entry
   * for the host, so the file entry is the one found). `keychain` writes the OS keychain and records
   * `credHelpers[host] = "stowage"` (and drops any plain-text entry for the host). config.json is written
   * atomically with mode 0600, keeping every field stowage does not manage.
   * @throws StowageError `INVALID_ARGUMENT`, `IO`, `FILE_NOT_FOUND`, `UNSUPPORTED` (keychain chosen but not
   *   available: nothing was written), `ABORTED`.
   */
  async put(registry: string, credentials: StoredCredentials, options: PutCredentialsOptions = {}): Promise<PutCredentialsResult> {
    const host = normaliseRegistryHost(registry);
    if (!hasCredentials(credentials)) throw new StowageError('INVALID_ARGUMENT', `save credentials for ${host}: they are empty`);
    const address = serverAddressOf(host);
    const config = await DockerConfigFile.load(this.configPath, options);
    const choice = options.store ?? 'auto';
    const result = (location: CredentialLocation, plainText: boolean, helper?: string): PutCredentialsResult => ({
      location,
      configPath: this.configPath,
      plainText,
      ...(helper === undefined ? {} : { helper }),
    });

    if (choice === 'keychain') {
      await this.keychain.put(address, credentials, options);
      config.setCredHelper(host, keychainHelperName);
      config.removeAuth(host);
      await config.save(options);
      return result('keychain', false);
    }
    if (choice === 'auto') {
      const helper = config.credHelperFor(host) ?? config.credsStore;
      if (helper === keychainHelperName) {
        await this.keychain.put(address, credentials, options);
        return result('keychain', false);
      }
      if (helper !== undefined) {
        await new CredentialHelper(helper, { env: this.env }).store(address, credentials, options);
        return result('helper', false, helper);
      }
    } else {
      const helper = config.credHelperFor(host);
      if (helper !== undefined) {
        // The file is chosen over the helper named for this host: the entry must go, or it would still win.
        if (helper === keychainHelperName) await this.keychain.delete(address, options).catch(() => false);
        config.removeCredHelper(host, helper);
      }
    }
    config.setAuth(host, credentials);
    await config.save(options);
    return result('file', true);
  }

  /**
   * Removes the credentials for `registry` wherever they live: the host's helper (the keychain for
   * `stowage`, whose `credHelpers` entry goes too), `credsStore`, and every `auths` key for the host.
   * Every place is tried; the first failure is thrown after the others are done.
   * @throws StowageError `INVALID_ARGUMENT`, `IO`, `FILE_NOT_FOUND`, `UNSUPPORTED`, `ABORTED`.
   */
  async delete(registry: string, options: OperationOptions = {}): Promise<DeleteCredentialsResult> {
    const host = normaliseRegistryHost(registry);
    const address = serverAddressOf(host);
    const config = await DockerConfigFile.load(this.configPath, options);
    const removed = new Set<CredentialLocation>();
    let failure: Error | undefined;
    const attempt = async (location: CredentialLocation, erase: () => Promise<boolean>): Promise<void> => {
      try {
        if (await erase()) removed.add(location);
      } catch (error) {
        failure ??= error instanceof Error ? error : new StowageError('IO', `remove credentials for ${host}: ${describeError(error)}`);
      }
    };

    const helpers = new Set([config.credHelperFor(host), config.credsStore]);
    for (const helper of helpers) {
      if (helper === undefined) continue;
      if (helper === keychainHelperName) {
        await attempt('keychain', () => this.keychain.delete(address, options));
      } else {
        await attempt('helper', () => new CredentialHelper(helper, { env: this.env }).erase(address, options));
      }
    }
    // The keychain marker is stowage's own: it goes with the login. A user's helper mapping stays.
    if (config.removeCredHelper(host, keychainHelperName)) removed.add('keychain');
    // Empty entries (Docker's placeholders for a credsStore login) go too, but are not credentials removed.
    let inFile: boolean;
    try {
      inFile = config.authFor(host) !== undefined;
    } catch {
      inFile = true;
    }
    if (config.removeAuth(host) && inFile) removed.add('file');
    if (config.modified) await config.save(options);
    if (failure !== undefined) throw failure;
    return { removed: [...removed], configPath: this.configPath };
  }

  private async helperGet(name: string, host: string, options: OperationOptions): Promise<StoredCredentials | undefined> {
    const address = serverAddressOf(host);
    if (name === keychainHelperName) return this.keychain.get(address, options);
    return new CredentialHelper(name, { env: this.env }).get(address, options);
  }
}
