/** HTTP Basic authentication (RFC 7617) for registries that answer `WWW-Authenticate: Basic`. */
import type { Challenge } from './challenge.js';
import type { AuthContext, AuthHandler, CredentialsProvider } from './handler.js';

/**
 * Sends Basic credentials to a host once it has asked for them with a `Basic` challenge, and from then on
 * up front to that host only (a cache per `host[:port]`). Credentials are looked up by the request's host,
 * so they never go to a host they were not given for.
 */
export class BasicAuthHandler implements AuthHandler {
  private readonly credentials: CredentialsProvider;
  private readonly cache = new Map<string, string>();

  constructor(credentials: CredentialsProvider) {
    this.credentials = credentials;
  }

  authorization(context: AuthContext): Promise<string | undefined> {
    return Promise.resolve(this.cache.get(context.host));
  }

  async challenge(context: AuthContext, challenges: readonly Challenge[], sent: string | undefined): Promise<boolean> {
    if (!challenges.some((challenge) => challenge.scheme === 'basic')) return false;
    const credentials = await this.credentials(context.host);
    if (credentials === undefined) return false;
    const value = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
    // The same credentials were just refused: a retry would be refused again.
    if (value === sent) {
      this.cache.delete(context.host);
      return false;
    }
    this.cache.set(context.host, value);
    return true;
  }
}
