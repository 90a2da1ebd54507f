/**
 * Server addresses as credential stores know them. Credentials are looked up by the exact, normalised
 * registry host: lowercase `host[:port]`, with Docker Hub's names (`docker.io`, `index.docker.io`,
 * `registry-1.docker.io`) all meaning `docker.io`. Docker keeps Docker Hub's credentials under the legacy key
 * `https://index.docker.io/v1/`, and older clients wrote keys such as `https://host/` or `http://host/v2/`:
 * those match on lookup too.
 */
import { isIPv6 } from 'node:net';
import { StowageError } from '../../errors.js';

/** The key Docker, ORAS and credential helpers use for Docker Hub. */
export const dockerHubServerAddress = 'https://index.docker.io/v1/';

const dockerHubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const hostPattern = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?$/;
const ipv6HostPattern = /^\[([0-9a-f:]+)\](?::[0-9]{1,5})?$/;

/**
 * The host part of a server address as found in a config key or typed by a user: the scheme and any path
 * are dropped (`https://index.docker.io/v1/` -> `index.docker.io`), then the host is lowercased and Docker
 * Hub's aliases become `docker.io`. Returns `undefined` for something that is not a host.
 */
export function registryHostOf(address: string): string | undefined {
  let rest = address.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest);
  if (scheme !== null) rest = rest.slice(scheme[0].length);
  const slash = rest.indexOf('/');
  if (slash !== -1) rest = rest.slice(0, slash);
  const host = rest.toLowerCase();
  if (dockerHubAliases.has(host)) return 'docker.io';
  if (hostPattern.test(host)) return host;
  const v6 = ipv6HostPattern.exec(host)?.[1];
  return v6 !== undefined && isIPv6(v6) ? host : undefined;
}

/**
 * Normalises the registry a user names (`localhost:5000`, `Docker.io`, `https://ghcr.io/`) to the host
 * credentials are stored for.
 * @throws StowageError `INVALID_ARGUMENT` when it is not a registry host.
 */
export function normaliseRegistryHost(registry: string): string {
  const host = registryHostOf(registry);
  if (host === undefined) {
    throw new StowageError('INVALID_ARGUMENT', `invalid registry "${registry}": expected a host with an optional port, such as localhost:5000 or ghcr.io`);
  }
  return host;
}

/**
 * The key a normalised host is written under in config.json and sent to credential helpers as `ServerURL`:
 * `https://index.docker.io/v1/` for Docker Hub, the host itself otherwise.
 */
export function serverAddressOf(host: string): string {
  return host === 'docker.io' ? dockerHubServerAddress : host;
}

/** True when a config key (exact or legacy form) names the normalised `host`. */
export function keyMatchesHost(key: string, host: string): boolean {
  return registryHostOf(key) === host;
}
