/**
 * The flag groups of `copy`, with ORAS's names: `--from-*` for the source, `--to-*` for the destination
 * (credentials, headers, TLS, address overrides, OCI layout, referrers mode), and `--resolve` rules that
 * apply to both sides before their own.
 */
import { Flags } from '@oclif/core';
import { StowageError } from '../../src/index.js';
import type { RemoteFlagValues } from '../client.js';

/** The flags of one side, unprefixed; `noun` is `source` or `destination`. */
function sideFlags(noun: 'source' | 'destination', group: string) {
  return {
    username: Flags.string({ description: `${noun} registry username`, helpGroup: group }),
    password: Flags.string({ description: `${noun} registry password or identity token`, helpGroup: group }),
    'identity-token': Flags.string({ description: `${noun} registry identity token (OAuth2 refresh token) instead of a username and password`, helpGroup: group }),
    'plain-http': Flags.boolean({
      description: `use plain HTTP for the ${noun} registry (the default for localhost and 127.0.0.1; --no-... forces HTTPS)`,
      allowNo: true,
      helpGroup: group,
    }),
    header: Flags.string({ description: `add a header to every ${noun} request: 'name: value' (repeatable)`, multiple: true, multipleNonGreedy: true, helpGroup: group }),
    'registry-config': Flags.string({ description: `config.json holding stored credentials for the ${noun} registry`, helpValue: 'path', helpGroup: group }),
    insecure: Flags.boolean({ description: `allow TLS connections to a ${noun} registry whose certificate cannot be verified`, helpGroup: group }),
    'ca-file': Flags.string({ description: `trust the CA certificates in this PEM file for the ${noun} registry`, helpValue: 'path', helpGroup: group }),
    'cert-file': Flags.string({ description: `client certificate (PEM) for mutual TLS with the ${noun} registry`, helpValue: 'path', helpGroup: group }),
    'key-file': Flags.string({ description: `private key (PEM) of the ${noun} client certificate`, helpValue: 'path', helpGroup: group }),
    resolve: Flags.string({
      description: `connect to host:port of the ${noun} at address[:address_port] instead (repeatable)`,
      helpValue: 'host:port:address[:address_port]',
      multiple: true,
      multipleNonGreedy: true,
      helpGroup: group,
    }),
    'oci-layout': Flags.boolean({ description: `the ${noun} is an OCI image layout directory: <path>[:<tag>|@<digest>]`, helpGroup: group }),
    'oci-layout-path': Flags.string({ description: `the ${noun} is the OCI image layout at this path; the argument is then only <tag> or <digest>`, helpValue: 'path', helpGroup: group }),
    'distribution-spec': Flags.string({
      description: `how the ${noun} finds or indexes referrers: v1.1-referrers-api or v1.1-referrers-tag; default: probe the API, else the tag`,
      options: ['v1.1-referrers-api', 'v1.1-referrers-tag'],
      helpGroup: group,
    }),
  };
}

const from = sideFlags('source', 'SOURCE');
const to = sideFlags('destination', 'DESTINATION');

export const fromFlags = {
  'from-username': from.username,
  'from-password': from.password,
  'from-identity-token': from['identity-token'],
  'from-plain-http': from['plain-http'],
  'from-header': from.header,
  'from-registry-config': from['registry-config'],
  'from-insecure': from.insecure,
  'from-ca-file': from['ca-file'],
  'from-cert-file': from['cert-file'],
  'from-key-file': from['key-file'],
  'from-resolve': from.resolve,
  'from-oci-layout': from['oci-layout'],
  'from-oci-layout-path': from['oci-layout-path'],
  'from-distribution-spec': from['distribution-spec'],
};

export const toFlags = {
  'to-username': to.username,
  'to-password': to.password,
  'to-identity-token': to['identity-token'],
  'to-plain-http': to['plain-http'],
  'to-header': to.header,
  'to-registry-config': to['registry-config'],
  'to-insecure': to.insecure,
  'to-ca-file': to['ca-file'],
  'to-cert-file': to['cert-file'],
  'to-key-file': to['key-file'],
  'to-resolve': to.resolve,
  'to-oci-layout': to['oci-layout'],
  'to-oci-layout-path': to['oci-layout-path'],
  'to-distribution-spec': to['distribution-spec'],
};

/** `--resolve` for both sides: applied before each side's own `--from-resolve` / `--to-resolve`. */
export const sharedResolveFlag = {
  resolve: Flags.string({
    description: 'connect to host:port at address[:address_port] instead, for both source and destination (before --from-resolve and --to-resolve)',
    helpValue: 'host:port:address[:address_port]',
    multiple: true,
    multipleNonGreedy: true,
    helpGroup: 'REMOTE',
  }),
};

/** One side's values, unprefixed. */
export interface SideValues extends RemoteFlagValues {
  'oci-layout-path'?: string | undefined;
  'distribution-spec'?: string | undefined;
}

/** The parsed values of {@link fromFlags}, {@link toFlags}, {@link sharedResolveFlag} and `--debug`. */
export interface CopyFlagValues {
  'from-username'?: string | undefined;
  'from-password'?: string | undefined;
  'from-identity-token'?: string | undefined;
  'from-plain-http'?: boolean | undefined;
  'from-header'?: string[] | undefined;
  'from-registry-config'?: string | undefined;
  'from-insecure'?: boolean | undefined;
  'from-ca-file'?: string | undefined;
  'from-cert-file'?: string | undefined;
  'from-key-file'?: string | undefined;
  'from-resolve'?: string[] | undefined;
  'from-oci-layout'?: boolean | undefined;
  'from-oci-layout-path'?: string | undefined;
  'from-distribution-spec'?: string | undefined;
  'to-username'?: string | undefined;
  'to-password'?: string | undefined;
  'to-identity-token'?: string | undefined;
  'to-plain-http'?: boolean | undefined;
  'to-header'?: string[] | undefined;
  'to-registry-config'?: string | undefined;
  'to-insecure'?: boolean | undefined;
  'to-ca-file'?: string | undefined;
  'to-cert-file'?: string | undefined;
  'to-key-file'?: string | undefined;
  'to-resolve'?: string[] | undefined;
  'to-oci-layout'?: boolean | undefined;
  'to-oci-layout-path'?: string | undefined;
  'to-distribution-spec'?: string | undefined;
  resolve?: string[] | undefined;
  debug?: boolean | undefined;
}

/** Leaves out the keys whose value is undefined (so two sides compare equal when they say the same). */
function defined(values: SideValues): SideValues {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined));
}

/**
 * Refuses flags of one side that contradict each other.
 * @throws StowageError `INVALID_ARGUMENT`.
 */
function checkSide(values: SideValues, prefix: 'from' | 'to'): SideValues {
  if (values['oci-layout'] === true && values['oci-layout-path'] !== undefined) {
    throw new StowageError('INVALID_ARGUMENT', `--${prefix}-oci-layout and --${prefix}-oci-layout-path cannot be used together: give the layout path in one of them`);
  }
  return values;
}

/** The source's flags as the remote flags of one target. */
export function sourceValues(flags: CopyFlagValues): SideValues {
  const resolve = [...(flags.resolve ?? []), ...(flags['from-resolve'] ?? [])];
  return checkSide(defined({
    username: flags['from-username'],
    password: flags['from-password'],
    'identity-token': flags['from-identity-token'],
    'plain-http': flags['from-plain-http'],
    header: flags['from-header'],
    'registry-config': flags['from-registry-config'],
    insecure: flags['from-insecure'],
    'ca-file': flags['from-ca-file'],
    'cert-file': flags['from-cert-file'],
    'key-file': flags['from-key-file'],
    resolve: resolve.length === 0 ? undefined : resolve,
    'oci-layout': flags['from-oci-layout'],
    'oci-layout-path': flags['from-oci-layout-path'],
    'distribution-spec': flags['from-distribution-spec'],
    debug: flags.debug,
  }), 'from');
}

/** The destination's flags as the remote flags of one target. */
export function destinationValues(flags: CopyFlagValues): SideValues {
  const resolve = [...(flags.resolve ?? []), ...(flags['to-resolve'] ?? [])];
  return checkSide(defined({
    username: flags['to-username'],
    password: flags['to-password'],
    'identity-token': flags['to-identity-token'],
    'plain-http': flags['to-plain-http'],
    header: flags['to-header'],
    'registry-config': flags['to-registry-config'],
    insecure: flags['to-insecure'],
    'ca-file': flags['to-ca-file'],
    'cert-file': flags['to-cert-file'],
    'key-file': flags['to-key-file'],
    resolve: resolve.length === 0 ? undefined : resolve,
    'oci-layout': flags['to-oci-layout'],
    'oci-layout-path': flags['to-oci-layout-path'],
    'distribution-spec': flags['to-distribution-spec'],
    debug: flags.debug,
  }), 'to');
}

/**
 * True when both sides reach a registry the same way: the same credentials, headers, TLS settings, address
 * overrides and scheme. Then one HTTP client serves both, and blobs are mounted rather than copied.
 */
export function sameConnection(a: SideValues, b: SideValues): boolean {
  const connection = (values: SideValues): string => {
    const { 'oci-layout': _layout, 'oci-layout-path': _path, 'distribution-spec': _spec, ...rest } = values;
    return JSON.stringify(Object.entries(rest).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  };
  return connection(a) === connection(b);
}
