/** Flags of commands that work with referrers (attach, discover), with ORAS's names. */
import { Flags } from '@oclif/core';
import { RemoteRepository, StowageError, type ReferrersMode, type Target } from '../../src/index.js';

export const distributionSpecFlag = {
  'distribution-spec': Flags.string({
    description: 'how to find referrers: v1.1-referrers-api (the registry API only) or v1.1-referrers-tag (the <alg>-<hex> tag index only); default: probe the API, else the tag',
    options: ['v1.1-referrers-api', 'v1.1-referrers-tag'],
    helpGroup: 'REMOTE',
  }),
};

export const platformFlag = {
  platform: Flags.string({ description: 'use the manifest of this platform when the reference is an index', helpValue: 'os[/arch][/variant][:os_version]' }),
};

/** The referrers mode a `--distribution-spec` value selects. */
export function referrersModeOf(value: string | undefined): ReferrersMode {
  switch (value) {
    case undefined:
      return 'auto';
    case 'v1.1-referrers-api':
      return 'api';
    case 'v1.1-referrers-tag':
      return 'tag';
    default:
      throw new StowageError('INVALID_ARGUMENT', `invalid --distribution-spec "${value}": use v1.1-referrers-api or v1.1-referrers-tag`);
  }
}

/** Applies `--distribution-spec` to a registry target (an OCI layout answers referrers from its own graph). */
export function applyDistributionSpec(target: Target, value: string | undefined): void {
  if (target instanceof RemoteRepository) target.useReferrers(referrersModeOf(value));
}
