import { once } from 'node:events';
import type { WriteStream } from 'node:fs';

/**
 * Resolves once a file write stream has closed its file. `pipeline` can reject before an `fs.WriteStream`
 * has even opened its file; removing the file at that moment races the open, which then creates it
 * again. Wait for this before cleaning up after a failed write.
 */
export async function waitClosed(stream: WriteStream): Promise<void> {
  if (stream.closed) return;
  stream.destroy();
  await once(stream, 'close').catch(() => undefined);
}
