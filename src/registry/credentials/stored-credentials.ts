/** What a credential store holds for one registry. */

/**
 * Credentials as Docker and ORAS store them: a username and password, or an identity token (an OAuth2
 * refresh token, `identitytoken` in config.json, username `<token>` in a credential helper), or a registry
 * token (ORAS's `registrytoken`: a Bearer token sent to the registry as it is). Absent strings are `''`, so
 * these can be handed to HTTP auth as they are.
 */
export interface StoredCredentials {
  username: string;
  password: string;
  identityToken?: string;
  registryToken?: string;
}

/** The username credential helpers use to say that `Secret` is an identity token. */
export const identityTokenUsername = '<token>';

/** True when the credentials carry anything to authenticate with. */
export function hasCredentials(credentials: StoredCredentials): boolean {
  return (
    credentials.username !== '' ||
    credentials.password !== '' ||
    (credentials.identityToken ?? '') !== '' ||
    (credentials.registryToken ?? '') !== ''
  );
}

/** The `{Username, Secret}` pair a credential helper stores. Registry tokens are not kept by helpers. */
export function toHelperSecret(credentials: StoredCredentials): { Username: string; Secret: string } {
  const identityToken = credentials.identityToken ?? '';
  if (identityToken !== '') return { Username: identityTokenUsername, Secret: identityToken };
  return { Username: credentials.username, Secret: credentials.password };
}

/** Credentials from a helper's `{Username, Secret}`; `undefined` when both are empty. */
export function fromHelperSecret(username: string, secret: string): StoredCredentials | undefined {
  if (username === identityTokenUsername) return secret === '' ? undefined : { username: '', password: '', identityToken: secret };
  const credentials: StoredCredentials = { username, password: secret };
  return hasCredentials(credentials) ? credentials : undefined;
}

/** Replaces every secret of `credentials` in `text` by `***` (for messages that quote a helper's output). */
export function redactSecrets(text: string, credentials: StoredCredentials | undefined): string {
  let out = text;
  if (credentials !== undefined) {
    for (const secret of [credentials.password, credentials.identityToken, credentials.registryToken]) {
      if (secret !== undefined && secret.length >= 1) out = out.split(secret).join('***');
    }
  }
  return out;
}
