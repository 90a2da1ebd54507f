import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../base-command.js';
import { layoutFlags, remoteFlags, ttyFlags } from '../flags/remote.js';
import { openTarget } from '../target.js';
import { descriptorFlags, descriptorText, writeStdout } from '../ui/descriptor-output.js';
import { isFilePusher, isStreamPusher, isValidDigest, isValidMediaType, MediaType, StowageError, type Descriptor } from '../../src/index.js';

/** Files are read in chunks of this size (DESIGN: at least 1 MiB). */
const readChunkBytes = 1024 * 1024;

export default class BlobPush extends BaseCommand {
  static override summary = 'Push a blob to a registry or an OCI image layout';
  static override description = `Pushes a file, or stdin with "-" (then --size is required), as one blob, reading it once: the digest
is computed while the bytes go up. A digest in the reference is checked against the content (and a blob
the target has under it is not sent again). --media-type only sets the media type of the printed descriptor.`;
  static override examples = [
    '<%= config.bin %> blob push localhost:5000/hello hi.txt',
    '<%= config.bin %> blob push localhost:5000/hello@sha256:9a201d228ebd966211f7d1131be19f152be428bd373a92071c71d8deaf83b3e5 hi.txt',
    '<%= config.bin %> blob push --size 12 localhost:5000/hello - < hi.txt',
    '<%= config.bin %> blob push --descriptor localhost:5000/hello hi.txt',
    '<%= config.bin %> blob push --media-type application/vnd.oci.image.config.v1+json --descriptor localhost:5000/hello config.json',
    '<%= config.bin %> blob push --oci-layout ./layout hi.txt',
  ];
  static override args = {
    reference: Args.string({ description: '<registry>/<repository>[@<digest>] or, with --oci-layout, <path>[@<digest>]', required: true }),
    file: Args.string({ description: 'the file to push; - for stdin (with --size)', required: true }),
  };
  static override flags = {
    ...descriptorFlags,
    'media-type': Flags.string({ description: 'media type of the printed descriptor', default: MediaType.ociLayer }),
    size: Flags.integer({ description: 'the size of the blob in bytes (required for stdin)', default: -1, min: -1 }),
    ...remoteFlags,
    ...layoutFlags,
    ...ttyFlags,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(BlobPush);
    const signal = this.signal;
    const mediaType = flags['media-type'];
    if (!isValidMediaType(mediaType)) throw new StowageError('INVALID_ARGUMENT', `invalid --media-type "${mediaType}"`);
    const fromStdin = args.file === '-';
    if (fromStdin && flags.size < 0) throw new StowageError('INVALID_ARGUMENT', '--size must be given when the blob is read from stdin');
    const opened = await openTarget(args.reference, flags, { create: true, signal, actions: ['pull', 'push'] });
    const digest = opened.selector;
    if (digest !== undefined && !isValidDigest(digest)) {
      throw new StowageError('INVALID_REFERENCE', `invalid reference "${args.reference}": a blob takes a digest, not a tag`);
    }
    const target = opened.target;
    if (!isStreamPusher(target)) throw new StowageError('UNSUPPORTED', `push blob to ${opened.name}: not supported by this store`);
    let size = flags.size;
    if (!fromStdin) {
      try {
        const stats = await stat(args.file);
        if (!stats.isFile()) throw new StowageError('FILE_NOT_FOUND', `push blob ${args.file}: not a file`);
        if (size >= 0 && size !== stats.size) throw new StowageError('SIZE_MISMATCH', `push blob ${args.file}: the file has ${stats.size} bytes, --size says ${size}`);
        size = stats.size;
      } catch (error) {
        if (error instanceof StowageError) throw error;
        throw new StowageError('FILE_NOT_FOUND', `push blob ${args.file}: no such file`, { cause: error });
      }
    }
    let desc: Descriptor;
    const known: Descriptor | undefined = digest === undefined ? undefined : { mediaType, digest, size };
    if (known !== undefined && (await target.exists(known, { signal }))) {
      if (fromStdin) process.stdin.destroy();
      desc = known;
    } else if (!fromStdin && digest === undefined && isFilePusher(target)) {
      desc = (await target.pushFile(args.file, { signal, mediaType })).descriptor;
    } else {
      const content = fromStdin ? process.stdin : createReadStream(args.file, { highWaterMark: readChunkBytes });
      desc = await target.pushStream(content, size, { signal, mediaType, ...(digest === undefined ? {} : { digest }) });
    }
    if (flags.descriptor) {
      await writeStdout(descriptorText(desc, flags.pretty));
      return;
    }
    this.out(`Pushed: [${opened.kind}] ${opened.display(digest)}`);
    this.out(`Digest: ${desc.digest}`);
  }
}
