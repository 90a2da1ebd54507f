/**
 * The credential helper fixture `docker-credential-stowage-test` (helper name `stowage-test`): a small Node
 * script beside this file that speaks the real docker-credential-helpers protocol and keeps its credentials
 * in a JSON file. {@link helperFixture} gives the environment that puts it on PATH and points it at a file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory holding `docker-credential-stowage-test`. */
export const credentialHelperDir = fileURLToPath(new URL('.', import.meta.url));
/** The helper's name in config.json (`credsStore` / `credHelpers`). */
export const credentialHelperName = 'stowage-test';

export interface HelperFixture {
  /** Environment for stowage (and the helper): PATH with the fixture first, the store file, the call log. */
  env: Record<string, string>;
  /** What the helper holds: `{"<server URL>": {"Username", "Secret"}}` (empty when it holds nothing). */
  entries(): Promise<Record<string, { Username: string; Secret: string }>>;
  /** The helper's calls so far: `<action> <server URL>` lines. */
  calls(): Promise<string[]>;
}

/** A fixture whose files live in `dir`. */
export function helperFixture(dir: string): HelperFixture {
  const file = join(dir, 'helper-credentials.json');
  const log = join(dir, 'helper-calls.log');
  return {
    env: {
      PATH: `${credentialHelperDir}:${process.env.PATH ?? ''}`,
      STOWAGE_TEST_CREDENTIALS_FILE: file,
      STOWAGE_TEST_CREDENTIALS_LOG: log,
    },
    async entries() {
      try {
        return JSON.parse(await readFile(file, 'utf8')) as Record<string, { Username: string; Secret: string }>;
      } catch {
        return {};
      }
    },
    async calls() {
      try {
        return (await readFile(log, 'utf8')).split('\n').filter((line) => line !== '');
      } catch {
        return [];
      }
    },
  };
}
