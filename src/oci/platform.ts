/** Platforms as ORAS's `--platform` writes them: `os[/arch][/variant][:os_version]`. */
import { StowageError } from '../errors.js';
import type { Platform } from './schemas.js';

/** A platform asked for: the OS, and optionally the architecture, variant and OS version. */
export interface PlatformSelector {
  os: string;
  architecture?: string;
  variant?: string;
  osVersion?: string;
}

const part = /^[A-Za-z0-9._-]+$/;

/**
 * Parses `os[/arch][/variant][:os_version]` (`linux`, `linux/amd64`, `linux/arm64/v8`, `windows/amd64:10.0.17763`).
 * @throws StowageError `INVALID_ARGUMENT` when it is not of that form.
 */
export function parsePlatform(value: string): PlatformSelector {
  const colon = value.indexOf(':');
  const path = colon < 0 ? value : value.slice(0, colon);
  const osVersion = colon < 0 ? undefined : value.slice(colon + 1);
  const parts = path.split('/');
  const invalid = (): StowageError =>
    new StowageError('INVALID_ARGUMENT', `invalid platform "${value}": expected os[/arch][/variant][:os_version], like linux/amd64`);
  if (parts.length > 3 || parts.some((item) => !part.test(item))) throw invalid();
  if (osVersion !== undefined && (osVersion === '' || /[\s/]/.test(osVersion))) throw invalid();
  const [os = '', architecture, variant] = parts;
  const selector: PlatformSelector = { os };
  if (architecture !== undefined) selector.architecture = architecture;
  if (variant !== undefined) selector.variant = variant;
  if (osVersion !== undefined) selector.osVersion = osVersion;
  return selector;
}

/** `os[/arch][/variant][:os_version]`. */
export function formatPlatform(selector: PlatformSelector): string {
  const path = [selector.os, selector.architecture, selector.variant].filter((item) => item !== undefined).join('/');
  return selector.osVersion === undefined ? path : `${path}:${selector.osVersion}`;
}

/** True when `platform` has the OS asked for, and the architecture, variant and OS version when asked for. */
export function platformMatches(platform: Partial<Platform> | undefined, selector: PlatformSelector): boolean {
  if (platform === undefined) return false;
  if (platform.os !== selector.os) return false;
  if (selector.architecture !== undefined && platform.architecture !== selector.architecture) return false;
  if (selector.variant !== undefined && platform.variant !== selector.variant) return false;
  if (selector.osVersion !== undefined && platform['os.version'] !== selector.osVersion) return false;
  return true;
}
