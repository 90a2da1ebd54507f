/** Flags of commands that talk to a registry or an OCI layout, with ORAS's names. */
import { Flags } from '@oclif/core';

/** TLS, address overrides and proxies (besides --plain-http and -H): what `createDispatcher` takes. */
export const transportFlags = {
  insecure: Flags.boolean({ description: 'allow TLS connections to a registry whose certificate cannot be verified', helpGroup: 'REMOTE' }),
  'ca-file': Flags.string({ description: 'trust the CA certificates in this PEM file, besides the bundled ones', helpValue: 'path', helpGroup: 'REMOTE' }),
  'cert-file': Flags.string({ description: 'client certificate (PEM) for mutual TLS; needs --key-file', helpValue: 'path', helpGroup: 'REMOTE' }),
  'key-file': Flags.string({ description: 'private key (PEM) of --cert-file', helpValue: 'path', helpGroup: 'REMOTE' }),
  resolve: Flags.string({
    description: 'connect to host:port at address[:address_port] instead; TLS and the Host header keep host (repeatable)',
    helpValue: 'host:port:address[:address_port]',
    multiple: true,
    multipleNonGreedy: true,
    helpGroup: 'REMOTE',
  }),
};

/** Credentials and transport for one target. */
export const remoteFlags = {
  username: Flags.string({ char: 'u', description: 'registry username', helpGroup: 'REMOTE' }),
  password: Flags.string({ char: 'p', description: 'registry password or identity token', helpGroup: 'REMOTE' }),
  'password-stdin': Flags.boolean({ description: 'read the password from stdin', helpGroup: 'REMOTE', exclusive: ['password'] }),
  'identity-token': Flags.string({
    description: 'an identity token (OAuth2 refresh token) instead of a username and password',
    exclusive: ['password', 'password-stdin', 'identity-token-stdin'],
    helpGroup: 'REMOTE',
  }),
  'identity-token-stdin': Flags.boolean({
    description: 'read the identity token from stdin',
    exclusive: ['password', 'password-stdin', 'identity-token'],
    helpGroup: 'REMOTE',
  }),
  'plain-http': Flags.boolean({
    description: 'use plain HTTP instead of HTTPS (the default for localhost and 127.0.0.1; --no-plain-http forces HTTPS)',
    allowNo: true,
    helpGroup: 'REMOTE',
  }),
  header: Flags.string({ char: 'H', description: "add a header to every request: 'name: value'", multiple: true, multipleNonGreedy: true, helpGroup: 'REMOTE' }),
  'registry-config': Flags.string({
    description: 'config.json holding stored credentials (default $DOCKER_CONFIG/config.json, else ~/.docker/config.json)',
    helpValue: 'path',
    helpGroup: 'REMOTE',
  }),
  ...transportFlags,
};

/** Selects an OCI image layout directory instead of a registry. */
export const layoutFlags = {
  'oci-layout': Flags.boolean({ description: 'the reference is an OCI image layout directory: <path>[:<tag>|@<digest>]', helpGroup: 'TARGET' }),
  'oci-layout-path': Flags.string({
    description: 'the target is the OCI image layout at this path; the reference is then only <tag>[,<tag>...] or <digest>',
    helpValue: 'path',
    helpGroup: 'TARGET',
  }),
};

/**
 * Options of a `--format` flag taking `formats`, or (as ORAS) `go-template` with `--template`, or `go-template=TEMPLATE`.
 * `BaseCommand` checks the pairing and turns a go-template into the JSON document rendered through the template.
 */
export function formatFlagOptions(formats: readonly string[]) {
  return {
    description: `output format; go-template takes --template, or is written go-template=TEMPLATE`,
    options: [...formats, 'go-template'],
    helpGroup: 'OUTPUT',
  };
}

/** `--template`: the Go template of `--format go-template`, over the document `--format json` prints. */
export const templateFlag = Flags.string({
  description: 'Go template for the output, over the fields of --format json (with --format go-template), e.g. {{.digest}}',
  helpValue: 'template',
  helpGroup: 'OUTPUT',
});

/** Result format. */
export const formatFlags = {
  format: Flags.string({ ...formatFlagOptions(['text', 'json']), default: 'text' }),
  template: templateFlag,
};

/** Progress display. */
export const ttyFlags = {
  'no-tty': Flags.boolean({ description: 'never show progress, even on a terminal', helpGroup: 'OUTPUT' }),
};

export function concurrencyFlag(defaultValue: number) {
  return {
    concurrency: Flags.integer({ description: 'blobs transferred at once', default: defaultValue, min: 1, max: 64 }),
  };
}
