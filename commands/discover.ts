import { Args, Flags } from '@oclif/core';
import { BaseCommand } from './base-command.js';
import { applyDistributionSpec, distributionSpecFlag, platformFlag } from './flags/referrers.js';
import { formatFlagOptions, layoutFlags, remoteFlags, templateFlag, ttyFlags } from './flags/remote.js';
import { openTarget } from './target.js';
import { renderTree, yamlScalar, type TreeNode } from './ui/tree.js';
import { Annotation, isValidDigest, parsePlatform, referrerTree, selectPlatform, StowageError, type ReferrerNode } from '../src/index.js';

/** One referrer in `--format json`, as ORAS writes it. */
interface ReferrerJson {
  reference: string;
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  referrers: ReferrerJson[];
}

export default class Discover extends BaseCommand {
  static override summary = 'List the referrers of an artifact or image (signatures, SBOMs, ...), as a tree or JSON';
  static override description = `Lists the manifests whose subject is the manifest the reference names, and their referrers in turn
(down to --depth levels), grouped by artifact type with their annotations. Uses the registry's referrers
API when it has one, else the <alg>-<hex> tag index; an OCI layout answers from its own graph.`;
  static override examples = [
    '<%= config.bin %> discover localhost:5000/hello:v1',
    '<%= config.bin %> discover localhost:5000/hello:v1 --artifact-type application/spdx+json --format json',
    '<%= config.bin %> discover localhost:5000/hello:v1 --depth 1',
    '<%= config.bin %> discover --oci-layout ./layout:v1',
  ];
  static override args = {
    reference: Args.string({ description: 'the subject: <registry>/<repository>:<tag>|@<digest> or, with --oci-layout, <path>:<tag>|@<digest>', required: true }),
  };
  static override flags = {
    'artifact-type': Flags.string({ description: 'only referrers of this artifact type (at every level)' }),
    depth: Flags.integer({ description: 'levels of referrers to list (1 = direct referrers only); default: all', min: 1 }),
    ...platformFlag,
    ...distributionSpecFlag,
    ...remoteFlags,
    ...layoutFlags,
    // Accepted as ORAS accepts it; discover shows no progress to turn off.
    ...ttyFlags,
    format: Flags.string(formatFlagOptions(['tree', 'json'])),
    template: templateFlag,
    output: Flags.string({ char: 'o', description: 'deprecated: use --format', options: ['tree', 'json'], helpGroup: 'OUTPUT', hidden: true }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Discover);
    const signal = this.signal;
    const format = flags.format ?? flags.output ?? 'tree';
    const opened = await openTarget(args.reference, flags, { signal });
    if (opened.selector === undefined) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a tag or digest is required`);
    }
    applyDistributionSpec(opened.target, flags['distribution-spec']);
    const platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
    let subject = await opened.target.resolve(opened.selector, { signal });
    if (platform !== undefined) subject = await selectPlatform(opened.target, subject, platform, opened.display(opened.selector), { signal });
    const referrers = await referrerTree(opened.target, subject, {
      signal,
      ...(flags.depth === undefined ? {} : { depth: flags.depth }),
      ...(flags['artifact-type'] === undefined ? {} : { artifactType: flags['artifact-type'] }),
    });

    if (format === 'json') {
      const toJson = (node: ReferrerNode): ReferrerJson => {
        const desc = node.descriptor;
        // Field order as ORAS writes it: referrers last.
        return {
          reference: opened.display(desc.digest),
          mediaType: desc.mediaType,
          digest: desc.digest,
          size: desc.size,
          ...(desc.annotations !== undefined && Object.keys(desc.annotations).length > 0 ? { annotations: sortedAnnotations(desc.annotations) } : {}),
          ...(desc.artifactType === undefined ? {} : { artifactType: desc.artifactType }),
          referrers: node.referrers.map(toJson),
        };
      };
      // The root carries what ORAS's resolving gives: from a layout tag, the annotations (the tag included) and
      // artifact type of its index.json entry; otherwise media type, digest and size only.
      const byLayoutTag = opened.kind === 'oci-layout' && platform === undefined && !isValidDigest(opened.selector);
      const rootAnnotations = byLayoutTag ? { ...(subject.annotations ?? {}) } : {};
      if (byLayoutTag && Object.keys(rootAnnotations).length > 0) rootAnnotations[Annotation.refName] = opened.selector;
      this.outJson({
        reference: opened.display(subject.digest),
        mediaType: subject.mediaType,
        digest: subject.digest,
        size: subject.size,
        ...(Object.keys(rootAnnotations).length > 0 ? { annotations: sortedAnnotations(rootAnnotations) } : {}),
        ...(byLayoutTag && subject.artifactType !== undefined ? { artifactType: subject.artifactType } : {}),
        referrers: referrers.map(toJson),
      });
      return;
    }
    this.out(renderTree({ label: opened.display(subject.digest), children: groupByType(referrers) }).join('\n'));
  }
}

/** Referrers grouped under their artifact type (in order of first appearance), each digest with its annotations and referrers. */
function groupByType(nodes: readonly ReferrerNode[]): TreeNode[] {
  const groups = new Map<string, TreeNode>();
  for (const node of nodes) {
    const type = node.descriptor.artifactType ?? node.descriptor.mediaType;
    let group = groups.get(type);
    if (group === undefined) {
      group = { label: type, children: [] };
      groups.set(type, group);
    }
    const children: TreeNode[] = [];
    const annotations = node.descriptor.annotations ?? {};
    const keys = Object.keys(annotations).sort();
    if (keys.length > 0) {
      children.push({ label: '[annotations]', children: keys.map((key) => ({ label: `${yamlScalar(key)}: ${yamlScalar(annotations[key] ?? '')}`, children: [] })) });
    }
    children.push(...groupByType(node.referrers));
    group.children.push({ label: node.descriptor.digest, children });
  }
  return [...groups.values()];
}

/** Annotations with their keys in sorted order (as Go's encoding/json writes a map). */
function sortedAnnotations(annotations: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(annotations).sort().map((key) => [key, annotations[key] ?? '']));
}
