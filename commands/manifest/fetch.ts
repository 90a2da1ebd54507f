import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { platformFlag } from '../flags/referrers.js';
import { formatFlags, layoutFlags, remoteFlags } from '../flags/remote.js';
import { openTarget } from '../target.js';
import { descriptorFlags, descriptorText, writeFileAtomically, writeStdout } from '../ui/descriptor-output.js';
import { Annotation, fetchManifest, indentJson, isValidDigest, orderedDescriptor, sortedJsonOf, StowageError, type Descriptor } from '../../src/index.js';

export default class ManifestFetch extends BaseCommand {
  static override summary = 'Fetch the manifest of an artifact or image';
  static override description = `Prints the manifest a tag or digest names, byte for byte as stored (or indented with --pretty), or
its descriptor with --descriptor; -o writes it to a file instead. --media-type limits the manifest types
accepted; --platform picks one platform's manifest out of an index.`;
  static override hiddenAliases = ['manifest:get', 'manifest:show'];
  static override examples = [
    '<%= config.bin %> manifest fetch localhost:5000/hello:v1',
    '<%= config.bin %> manifest fetch --descriptor localhost:5000/hello:v1',
    '<%= config.bin %> manifest fetch --pretty localhost:5000/hello:v1',
    '<%= config.bin %> manifest fetch --format json localhost:5000/hello:v1',
    "<%= config.bin %> manifest fetch --media-type 'application/vnd.oci.image.manifest.v1+json' localhost:5000/hello:v1",
    "<%= config.bin %> manifest fetch --platform 'linux/arm/v5' localhost:5000/hello:v1",
    '<%= config.bin %> manifest fetch -o manifest.json localhost:5000/hello:v1',
    '<%= config.bin %> manifest fetch --oci-layout ./layout:v1',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>:<tag>|@<digest> or, with --oci-layout, <path>:<tag>|@<digest>', required: true }),
  };
  static override flags = {
    ...descriptorFlags,
    'media-type': Flags.string({ description: 'accepted media types (repeatable, or comma-separated)', multiple: true }),
    output: Flags.string({ char: 'o', description: 'write the manifest to this file; - for stdout', helpValue: 'path' }),
    ...platformFlag,
    ...remoteFlags,
    ...layoutFlags,
    ...formatFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ManifestFetch);
    const signal = this.signal;
    const json = flags.format === 'json';
    if (json && flags.descriptor) throw new StowageError('INVALID_ARGUMENT', '--format json and --descriptor cannot be used together');
    if (flags.output === '-' && flags.descriptor) throw new StowageError('INVALID_ARGUMENT', '--output - and --descriptor cannot be used together');
    const opened = await openTarget(args.reference, flags, { signal });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a tag or digest is required`);
    }
    const mediaTypes = (flags['media-type'] ?? []).flatMap((value) => value.split(',')).map((value) => value.trim()).filter((value) => value !== '');
    const { descriptor, bytes } = await fetchManifest(opened.target, opened.selector, {
      signal,
      display: opened.display(opened.selector),
      ...(mediaTypes.length === 0 ? {} : { mediaTypes }),
      ...(flags.platform === undefined ? {} : { platform: flags.platform }),
    });
    const shown = shownDescriptor(descriptor, opened.kind, opened.selector, flags.platform !== undefined);
    if (flags.output !== undefined && flags.output !== '-') await writeFileAtomically(flags.output, bytes, signal);
    if (json) {
      const { mediaType, digest, size, ...rest } = orderedDescriptor(shown);
      this.outJson({ reference: opened.display(digest), mediaType, digest, size, ...rest, content: sortedJsonOf(bytes, opened.display(digest)) });
      return;
    }
    if (flags.descriptor) {
      await writeStdout(descriptorText(shown, flags.pretty));
      return;
    }
    if (flags.output !== undefined && flags.output !== '-') return;
    await writeStdout(flags.pretty ? indentJson(bytes, opened.display(descriptor.digest)) : bytes);
  }
}

/**
 * The descriptor as ORAS shows it: from a layout tag, the index.json entry with its tag annotation; else
 * what resolving gave.
 */
export function shownDescriptor(desc: Descriptor, kind: string, selector: string, selected: boolean): Descriptor {
  if (kind !== 'oci-layout' || selected || isValidDigest(selector)) return desc;
  return { ...desc, annotations: { ...(desc.annotations ?? {}), [Annotation.refName]: selector } };
}
