/** An in-memory stand-in for the OS keychain (the real one is tested in e2e/keychain.test.ts). */
import { StowageError } from '../../../src/errors.js';
import { KeychainStore } from '../../../src/registry/credentials/keychain.js';
import type { StoredCredentials } from '../../../src/registry/credentials/stored-credentials.js';

export class FakeKeychain extends KeychainStore {
  readonly entries = new Map<string, StoredCredentials>();
  /** When true, every call fails as a machine without a Secret Service does. */
  unavailable = false;

  private check(): void {
    if (this.unavailable) throw new StowageError('UNSUPPORTED', 'the OS keychain is not available: no Secret Service');
  }

  override get(serverAddress: string): Promise<StoredCredentials | undefined> {
    this.check();
    return Promise.resolve(this.entries.get(serverAddress));
  }

  override put(serverAddress: string, credentials: StoredCredentials): Promise<void> {
    this.check();
    this.entries.set(serverAddress, credentials);
    return Promise.resolve();
  }

  override delete(serverAddress: string): Promise<boolean> {
    this.check();
    return Promise.resolve(this.entries.delete(serverAddress));
  }

  override list(): Promise<Record<string, string>> {
    this.check();
    return Promise.resolve(Object.fromEntries([...this.entries].map(([address, credentials]) => [address, credentials.identityToken === undefined ? credentials.username : '<token>'])));
  }
}
