import { Args, Flags } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { createClient } from './client.js';
import { destinationValues, fromFlags, sameConnection, sharedResolveFlag, sourceValues, toFlags, type SideValues } from './flags/copy.js';
import { applyDistributionSpec, platformFlag } from './flags/referrers.js';
import { concurrencyFlag, formatFlags, ttyFlags } from './flags/remote.js';
import { openTarget, type OpenedTarget } from './target.js';
import { Progress, progressEnabled } from './ui/progress.js';
import {
  copy,
  copyWithReferrers,
  isValidDigest,
  parsePlatform,
  parseReferenceWithTags,
  selectPlatform,
  StowageError,
  type Descriptor,
  type HttpClient,
} from '../src/index.js';

/** True when the side's flags make it an OCI layout. */
function isLayout(values: SideValues): boolean {
  return values['oci-layout'] === true || values['oci-layout-path'] !== undefined;
}

export default class Copy extends BaseCommand {
  static override aliases = ['cp'];
  static override summary = 'Copy an artifact or image from one registry or OCI layout to another, optionally with its referrers';
  static override description = `Copies the manifest the source names and everything under it (an index with all its manifests, unless
--platform picks one). Between two repositories of one registry reached with the same credentials, blobs are
mounted, not uploaded; between registries they stream from source to destination, nothing is written to disk.
With -r, the referrers (signatures, SBOMs, ...) of the manifest, and theirs in turn, are copied too and
indexed at the destination (by its referrers API, else its <alg>-<hex> tag index). Several destination tags
are separated by commas.`;
  static override examples = [
    '<%= config.bin %> copy localhost:5000/hello:v1 localhost:6000/hello:v1',
    '<%= config.bin %> cp -r localhost:5000/hello:v1 localhost:6000/hello:v1,latest',
    '<%= config.bin %> cp --platform linux/arm64 localhost:5000/image:v1 localhost:5000/image-arm64:v1',
    '<%= config.bin %> cp --to-oci-layout localhost:5000/hello:v1 ./layout:v1',
    '<%= config.bin %> cp --from-oci-layout ./layout:v1 localhost:5000/hello:v1',
    '<%= config.bin %> cp --from-username alice --from-password "$PASSWORD" registry.example.com/app:v1 localhost:5000/app:v1',
  ];
  static override usage = '<%= command.id %> SOURCE DESTINATION [FLAGS]';
  static override args = {
    source: Args.string({
      description: '<registry>/<repository>:<tag>|@<digest>; with --from-oci-layout, <path>:<tag>|@<digest>; with --from-oci-layout-path, <tag>|<digest>',
      required: true,
    }),
    destination: Args.string({
      description: '<registry>/<repository>[:<tag>[,<tag>...]|@<digest>]; with --to-oci-layout, <path>[:<tag>[,<tag>...]]; with --to-oci-layout-path, [<tag>[,<tag>...]]',
      required: true,
    }),
  };
  static override flags = {
    recursive: Flags.boolean({ char: 'r', description: 'also copy the referrers of the manifest, and theirs in turn' }),
    ...platformFlag,
    ...concurrencyFlag(3),
    ...fromFlags,
    ...toFlags,
    ...sharedResolveFlag,
    ...formatFlags,
    ...ttyFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Copy);
    const signal = this.signal;
    const fromValues = sourceValues(flags);
    const toValues = destinationValues(flags);
    const platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);

    // One client for both sides when they are one registry reached the same way: copy() then mounts blobs.
    let shared: HttpClient | undefined;
    if (!isLayout(fromValues) && !isLayout(toValues) && sameConnection(fromValues, toValues)) {
      const sourceRegistry = parseReferenceWithTags(args.source).reference.registry;
      const destinationRegistry = parseReferenceWithTags(args.destination, { multipleTags: true }).reference.registry;
      if (sourceRegistry === destinationRegistry) shared = await createClient(sourceRegistry, fromValues);
    }
    const source = await openTarget(args.source, fromValues, {
      signal,
      ...(fromValues['oci-layout-path'] === undefined ? {} : { layoutPath: fromValues['oci-layout-path'] }),
      ...(shared === undefined ? {} : { client: shared }),
    });
    if (source.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.source}": the source needs a tag or digest`);
    }
    const destination = await openTarget(args.destination, toValues, {
      create: true,
      multipleTags: true,
      signal,
      actions: ['pull', 'push'],
      ...(toValues['oci-layout-path'] === undefined ? {} : { layoutPath: toValues['oci-layout-path'] }),
      ...(shared === undefined ? {} : { client: shared }),
    });
    applyDistributionSpec(source.target, fromValues['distribution-spec']);
    applyDistributionSpec(destination.target, toValues['distribution-spec']);

    let sourceRef = source.selector;
    if (platform !== undefined) {
      const resolved = await source.target.resolve(source.selector, { signal });
      sourceRef = (await selectPlatform(source.target, resolved, platform, source.display(source.selector), { signal })).digest;
    }
    const destinationDigest = destination.selector !== undefined && isValidDigest(destination.selector) ? destination.selector : undefined;
    const [firstTag, ...extraTags] = destination.tags;

    const progress = new Progress({ verbs: { active: 'Copying', done: 'Copied' }, enabled: progressEnabled(flags) });
    let root: Descriptor;
    let referrers: Descriptor[] = [];
    try {
      const options = { concurrency: flags.concurrency, signal, extraTags, ...progress.hooks() };
      if (destinationDigest !== undefined) {
        // A digest as destination names what must arrive: check it before anything moves.
        const expected = await source.target.resolve(sourceRef, { signal });
        if (expected.digest !== destinationDigest) {
          throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.destination}": the source is ${expected.digest}, not ${destinationDigest}`);
        }
      }
      if (flags.recursive) {
        ({ root, referrers } = await copyWithReferrers(source.target, sourceRef, destination.target, firstTag, options));
      } else {
        root = await copy(source.target, sourceRef, destination.target, firstTag, options);
      }
      progress.finish();
    } finally {
      progress.stop();
    }
    this.report(source, destination, root, referrers, flags.format);
  }

  private report(source: OpenedTarget, destination: OpenedTarget, root: Descriptor, referrers: Descriptor[], format: string): void {
    const tags = destination.tags;
    if (format === 'json') {
      this.outJson({
        source: source.display(source.selector),
        reference: destination.display(root.digest),
        mediaType: root.mediaType,
        digest: root.digest,
        size: root.size,
        referenceAsTags: tags.map((tag) => destination.display(tag)),
        referrers: referrers.map((desc) => ({
          reference: destination.display(desc.digest),
          mediaType: desc.mediaType,
          digest: desc.digest,
          size: desc.size,
          ...(desc.artifactType === undefined ? {} : { artifactType: desc.artifactType }),
        })),
      });
      return;
    }
    const shownDestination = tags[0] !== undefined ? destination.display(tags[0]) : destination.display(destination.selector);
    this.out(`Copied [${source.kind}] ${source.display(source.selector)} => [${destination.kind}] ${shownDestination}`);
    for (const tag of tags.slice(1)) this.out(`Tagged ${tag}`);
    this.out(`Digest: ${root.digest}`);
  }
}
