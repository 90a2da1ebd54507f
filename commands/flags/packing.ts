/** Flags of commands that pack files into a manifest (push, and later attach), with ORAS's names. */
import { Flags } from '@oclif/core';

export const packingFlags = {
  'artifact-type': Flags.string({ description: 'artifact type of the manifest (default application/vnd.unknown.artifact.v1 without --config)' }),
  annotation: Flags.string({ char: 'a', description: 'manifest annotation key=value (repeatable)', multiple: true }),
  'annotation-file': Flags.string({ description: 'JSON file of annotations: {"$manifest": {...}, "$config": {...}, "<file>": {...}}' }),
  config: Flags.string({ description: 'config file, with an optional media type: <path>[:<mediaType>]' }),
  'export-manifest': Flags.string({ description: 'also write the pushed manifest to this file' }),
  'disable-path-validation': Flags.boolean({ description: 'allow absolute file paths (their titles keep the path)' }),
};
