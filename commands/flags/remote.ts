/** Flags of commands that talk to a registry or an OCI layout, with ORAS's names. */
import { Flags } from '@oclif/core';

/** Credentials and transport for one target. */
export const remoteFlags = {
  username: Flags.string({ char: 'u', description: 'registry username', helpGroup: 'REMOTE' }),
  password: Flags.string({ char: 'p', description: 'registry password or identity token', helpGroup: 'REMOTE' }),
  'password-stdin': Flags.boolean({ description: 'read the password from stdin', helpGroup: 'REMOTE', exclusive: ['password'] }),
  'plain-http': Flags.boolean({
    description: 'use plain HTTP instead of HTTPS (the default for localhost and 127.0.0.1; --no-plain-http forces HTTPS)',
    allowNo: true,
    helpGroup: 'REMOTE',
  }),
  header: Flags.string({ char: 'H', description: "add a header to every request: 'name: value'", multiple: true, helpGroup: 'REMOTE' }),
};

/** Selects an OCI image layout directory instead of a registry. */
export const layoutFlags = {
  'oci-layout': Flags.boolean({ description: 'the reference is an OCI image layout directory: <path>[:<tag>|@<digest>]', helpGroup: 'TARGET' }),
};

/** Result format. */
export const formatFlags = {
  format: Flags.string({ description: 'output format', options: ['text', 'json'], default: 'text', helpGroup: 'OUTPUT' }),
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
