/**
 * The OS keychain (macOS Keychain, Windows Credential Manager, the Secret Service on Linux: GNOME Keyring,
 * KWallet) through the optional package `@napi-rs/keyring`, loaded only when used. One entry per registry:
 * service `stowage`, account = the server address (`localhost:5000`, `https://index.docker.io/v1/`), secret
 * = `{"Username","Secret"}` JSON, as a credential helper stores it.
 */
import { z } from 'zod';
import type { OperationOptions } from '../../content/store.js';
import { describeError, StowageError, throwIfAborted } from '../../errors.js';
import { fromHelperSecret, toHelperSecret, type StoredCredentials } from './stored-credentials.js';

/** The keychain's service name for stowage's entries. */
export const defaultKeychainService = 'stowage';

const secretSchema = z.looseObject({ Username: z.string(), Secret: z.string() });

type KeyringModule = typeof import('@napi-rs/keyring');
type AsyncEntry = InstanceType<KeyringModule['AsyncEntry']>;

let keyringModule: Promise<KeyringModule> | undefined;

function loadKeyring(): Promise<KeyringModule> {
  keyringModule ??= import('@napi-rs/keyring');
  return keyringModule;
}

/** Options of {@link KeychainStore}. */
export interface KeychainStoreOptions {
  /** The service name entries are kept under. Default: {@link defaultKeychainService}. */
  service?: string;
}

/** Credentials in the OS keychain. */
export class KeychainStore {
  readonly service: string;

  constructor(options: KeychainStoreOptions = {}) {
    this.service = options.service ?? defaultKeychainService;
  }

  /**
   * The credentials stored for `serverAddress`, or `undefined`.
   * @throws StowageError `UNSUPPORTED` (no keychain: the package is missing or no Secret Service runs),
   *   `IO` (an entry that is not stowage's JSON), `ABORTED`.
   */
  async get(serverAddress: string, options: OperationOptions = {}): Promise<StoredCredentials | undefined> {
    const entry = await this.entry(serverAddress, 'read', options);
    const text = await this.call('read', serverAddress, options, (signal) => entry.getPassword(signal));
    if (text === null) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = secretSchema.safeParse(json);
    if (!parsed.success) throw new StowageError('IO', `read credentials for ${serverAddress} from the OS keychain: the entry is not stowage's {"Username","Secret"} JSON`);
    return fromHelperSecret(parsed.data.Username, parsed.data.Secret);
  }

  /**
   * Stores credentials for `serverAddress`, replacing what was there.
   * @throws StowageError `UNSUPPORTED`, `ABORTED`.
   */
  async put(serverAddress: string, credentials: StoredCredentials, options: OperationOptions = {}): Promise<void> {
    const entry = await this.entry(serverAddress, 'store', options);
    const value = JSON.stringify(toHelperSecret(credentials));
    await this.call('store', serverAddress, options, (signal) => entry.setPassword(value, signal));
  }

  /**
   * Deletes the entry for `serverAddress`. Returns false when there was none.
   * @throws StowageError `UNSUPPORTED`, `ABORTED`.
   */
  async delete(serverAddress: string, options: OperationOptions = {}): Promise<boolean> {
    const entry = await this.entry(serverAddress, 'delete', options);
    return this.call('delete', serverAddress, options, (signal) => entry.deleteCredential(signal));
  }

  /**
   * Every server address with an entry, and its username (`<token>` for an identity token).
   * @throws StowageError `UNSUPPORTED`, `ABORTED`.
   */
  async list(options: OperationOptions = {}): Promise<Record<string, string>> {
    const keyring = await this.module('list', options);
    const found = await this.call('list', this.service, options, (signal) => keyring.findCredentialsAsync(this.service, null, signal));
    const out: Record<string, string> = {};
    for (const { account, password } of found) {
      let json: unknown;
      try {
        json = JSON.parse(password);
      } catch {
        continue;
      }
      const parsed = secretSchema.safeParse(json);
      if (parsed.success) out[account] = parsed.data.Username;
    }
    return out;
  }

  private async module(action: string, options: OperationOptions): Promise<KeyringModule> {
    throwIfAborted(options.signal, `${action} credentials in the OS keychain`);
    try {
      return await loadKeyring();
    } catch (error) {
      keyringModule = undefined;
      throw new StowageError('UNSUPPORTED', `the OS keychain is not available: the optional package @napi-rs/keyring is not installed (${describeError(error).split('\n')[0] ?? ''})`, { cause: error });
    }
  }

  private async entry(serverAddress: string, action: string, options: OperationOptions): Promise<AsyncEntry> {
    const keyring = await this.module(action, options);
    // On Linux, the Secret Service (GNOME Keyring, KWallet) keeps secrets across reboots; the kernel keyring does not.
    // The constructor connects to it already, and throws when there is none.
    return this.call(action, serverAddress, options, () => Promise.resolve(new keyring.AsyncEntry(this.service, serverAddress, { linux: { store: 'secret-service' } })));
  }

  private async call<T>(action: string, serverAddress: string, options: OperationOptions, run: (signal: AbortSignal | null) => Promise<T>): Promise<T> {
    try {
      return await run(options.signal ?? null);
    } catch (error) {
      throwIfAborted(options.signal, `${action} credentials for ${serverAddress} in the OS keychain`);
      throw new StowageError('UNSUPPORTED', `the OS keychain is not available (${action} ${serverAddress}): ${keychainReason(error)}`, { cause: error });
    }
  }
}

/** Why the keychain failed, in words a user can act on. */
function keychainReason(error: unknown): string {
  const message = (describeError(error).split('\n')[0] ?? '').trim();
  if (/dbus|DBUS_SESSION_BUS_ADDRESS|platform storage|secret service|org\.freedesktop/i.test(message)) {
    return `no Secret Service (GNOME Keyring, KWallet) answers on the session bus (${message})`;
  }
  return message;
}
