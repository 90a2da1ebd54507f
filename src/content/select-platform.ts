/** Picks one platform's manifest: the entry of an index, or an image manifest whose config says it is that platform. */
import { isStowageError, StowageError, throwIfAborted } from '../errors.js';
import { formatPlatform, platformMatches, type PlatformSelector } from '../oci/platform.js';
import { imageConfigSchema, parseJson, parseManifest, type Descriptor } from '../oci/schemas.js';
import { fetchBytes, type Fetcher, type OperationOptions } from './store.js';

/**
 * The manifest of `selector`'s platform under `desc`: for an index, the first entry whose `platform`
 * matches (nested indexes are followed); for an image manifest, itself when its config's `os`,
 * `architecture`, `variant` and `os.version` match. `what` names the reference in messages.
 * @throws StowageError `NOT_FOUND` (no manifest of that platform), `INVALID_MANIFEST`, and what
 *   {@link fetchBytes} throws.
 */
export async function selectPlatform(store: Fetcher, desc: Descriptor, selector: PlatformSelector, what: string, options: OperationOptions = {}): Promise<Descriptor> {
  const fetchOptions = options.signal === undefined ? {} : { signal: options.signal };
  const notFound = (): StowageError => new StowageError('NOT_FOUND', `${what}: no manifest for platform ${formatPlatform(selector)}`);
  const visit = async (node: Descriptor, depth: number): Promise<Descriptor | undefined> => {
    throwIfAborted(options.signal, what);
    if (depth > 8) return undefined;
    const parsed = parseManifest(await fetchBytes(store, node, fetchOptions), node.mediaType, node.digest);
    if (parsed.kind === 'index') {
      for (const child of parsed.index.manifests) {
        if (platformMatches(child.platform, selector)) return child;
      }
      for (const child of parsed.index.manifests) {
        if (child.platform === undefined && child.mediaType === parsed.mediaType) {
          const found = await visit(child, depth + 1);
          if (found !== undefined) return found;
        }
      }
      return undefined;
    }
    const configDesc = parsed.manifest.config;
    if (configDesc.size > 1024 * 1024) return undefined;
    let config;
    try {
      config = parseJson(imageConfigSchema, await fetchBytes(store, configDesc, fetchOptions), configDesc.digest);
    } catch (error) {
      // A config that is not an image config (an artifact's) is simply not of any platform.
      if (isStowageError(error, 'ABORTED', 'NETWORK', 'UNAUTHORIZED', 'DENIED')) throw error;
      return undefined;
    }
    const platform = {
      ...(config.os === undefined ? {} : { os: config.os }),
      ...(config.architecture === undefined ? {} : { architecture: config.architecture }),
      ...(config.variant === undefined ? {} : { variant: config.variant }),
      ...(config['os.version'] === undefined ? {} : { 'os.version': config['os.version'] }),
    };
    return platformMatches(platform, selector) ? node : undefined;
  };
  const found = await visit(desc, 0);
  if (found === undefined) throw notFound();
  return found;
}
