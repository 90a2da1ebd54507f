/**
 * The other side of the credential helper protocol, for `docker-credential-stowage`: Docker and ORAS run it
 * for hosts whose `credHelpers` entry is `stowage` (set by `stowage login --credential-store keychain`), and
 * it answers from the OS keychain.
 */
import { z } from 'zod';
import type { OperationOptions } from '../../content/store.js';
import { describeError } from '../../errors.js';
import type { KeychainStore } from './keychain.js';
import { fromHelperSecret, toHelperSecret } from './stored-credentials.js';

/** What the helper program prints to stdout, and its exit code. */
export interface HelperAnswer {
  stdout: string;
  exitCode: number;
}

const storeInputSchema = z.looseObject({ ServerURL: z.string(), Username: z.string(), Secret: z.string() });

/** The answer Docker's helpers give when they hold nothing; clients look for this text. */
export const credentialsNotFoundMessage = 'credentials not found in native keychain';

/**
 * Answers one helper action (`get`, `store`, `erase`, `list`) given what the client wrote on stdin.
 * Never throws: failures are exit code 1 with a one-line message on stdout, as the protocol wants; the
 * message never contains a secret.
 */
export async function serveCredentialHelper(action: string, input: string, keychain: KeychainStore, options: OperationOptions = {}): Promise<HelperAnswer> {
  const fail = (message: string): HelperAnswer => ({ stdout: `${message}\n`, exitCode: 1 });
  try {
    switch (action) {
      case 'get': {
        const serverUrl = input.trim();
        if (serverUrl === '') return fail('no server URL on stdin');
        const credentials = await keychain.get(serverUrl, options);
        if (credentials === undefined) return fail(credentialsNotFoundMessage);
        return { stdout: `${JSON.stringify({ ServerURL: serverUrl, ...toHelperSecret(credentials) })}\n`, exitCode: 0 };
      }
      case 'store': {
        let json: unknown;
        try {
          json = JSON.parse(input);
        } catch {
          json = undefined;
        }
        const parsed = storeInputSchema.safeParse(json);
        if (!parsed.success) return fail('expected {"ServerURL","Username","Secret"} JSON on stdin');
        const credentials = fromHelperSecret(parsed.data.Username, parsed.data.Secret);
        if (credentials === undefined) return fail('no credentials to store');
        await keychain.put(parsed.data.ServerURL, credentials, options);
        return { stdout: '', exitCode: 0 };
      }
      case 'erase': {
        const serverUrl = input.trim();
        if (serverUrl === '') return fail('no server URL on stdin');
        return (await keychain.delete(serverUrl, options)) ? { stdout: '', exitCode: 0 } : fail(credentialsNotFoundMessage);
      }
      case 'list':
        return { stdout: `${JSON.stringify(await keychain.list(options))}\n`, exitCode: 0 };
      default:
        return fail(`unknown action "${action}": expected get, store, erase or list`);
    }
  } catch (error) {
    return fail(describeError(error).split('\n')[0] ?? 'failed');
  }
}
