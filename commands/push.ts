import { Args, Flags } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { concurrencyFlag, formatFlags, layoutFlags, remoteFlags, ttyFlags } from './flags/remote.js';
import { packingFlags } from './flags/packing.js';
import { openTarget } from './target.js';
import { pushPacked, readPackingInput } from './push-files.js';
import { progressEnabled } from './ui/progress.js';
import { isValidDigest, StowageError, type Descriptor, type ImageSpec } from '../src/index.js';

function imageSpecOf(value: string): ImageSpec {
  if (value === 'v1.1' || value === 'v1.0') return value;
  throw new StowageError('INVALID_ARGUMENT', `invalid --image-spec "${value}": use v1.1 or v1.0`);
}

export default class Push extends BaseCommand {
  static override summary = 'Push files to a registry or an OCI image layout';
  static override description = `Packs files and directories into an artifact manifest and pushes it. A file's title is its path as given;
a directory becomes a tar+gzip layer that "pull" (and "oras pull") unpacks. Give a media type after a colon.
Several tags are separated by commas. Set SOURCE_DATE_EPOCH for a reproducible manifest.`;
  static override examples = [
    '<%= config.bin %> push localhost:5000/hello:v1 hi.txt',
    '<%= config.bin %> push localhost:5000/hello:v1,latest sbom.json:application/spdx+json ./docs',
    '<%= config.bin %> push localhost:5000/hello:v1 --artifact-type application/vnd.example.report -a team=infra report.pdf',
    '<%= config.bin %> push localhost:5000/hello:v1 --config config.json:application/vnd.example.config+json layer.bin',
    '<%= config.bin %> push --oci-layout ./layout:v1 hi.txt',
  ];
  static override strict = false;
  static override usage = '<%= command.id %> REFERENCE [FILE[:MEDIATYPE]...] [FLAGS]';
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>[:<tag>[,<tag>...]] or, with --oci-layout, <path>[:<tag>]', required: true }),
    files: Args.string({ description: 'files and directories to push: <path>[:<mediaType>] ...' }),
  };
  static override flags = {
    ...packingFlags,
    'image-spec': Flags.string({ description: 'manifest format: v1.1 (artifactType, empty config) or v1.0', options: ['v1.1', 'v1.0'] }),
    ...concurrencyFlag(5),
    ...remoteFlags,
    ...layoutFlags,
    ...formatFlags,
    ...ttyFlags,
  };

  async run(): Promise<void> {
    const { args, argv, flags } = await this.parse(Push);
    const signal = this.signal;
    const opened = await openTarget(args.reference, flags, { create: true, multipleTags: true, signal, actions: ['pull', 'push'] });
    if (opened.selector !== undefined && isValidDigest(opened.selector)) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": push takes tags, not a digest (the digest comes from the content)`);
    }
    const input = await readPackingInput(argv.slice(1).map(String), flags, signal);
    const packed = await pushPacked(opened.target, input, {
      pack: {
        ...(flags['artifact-type'] === undefined ? {} : { artifactType: flags['artifact-type'] }),
        ...(flags['image-spec'] === undefined ? {} : { imageSpec: imageSpecOf(flags['image-spec']) }),
      },
      tags: opened.tags,
      concurrency: flags.concurrency,
      signal,
      progress: progressEnabled(flags),
    });
    this.report(opened.kind, opened.display, opened.tags, packed.descriptor, flags.format);
  }

  private report(kind: string, display: (selector?: string) => string, tags: string[], desc: Descriptor, format: string): void {
    if (format === 'json') {
      this.outJson({
        reference: display(desc.digest),
        mediaType: desc.mediaType,
        digest: desc.digest,
        size: desc.size,
        annotations: desc.annotations ?? {},
        artifactType: desc.artifactType ?? '',
        referenceAsTags: tags.map((tag) => display(tag)),
      });
      return;
    }
    this.out(`Pushed [${kind}] ${tags.length === 0 ? display() : display(tags.join(','))}`);
    if (desc.artifactType !== undefined) this.out(`ArtifactType: ${desc.artifactType}`);
    this.out(`Digest: ${desc.digest}`);
  }
}
