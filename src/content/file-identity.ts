/**
 * What identifies a version of a local file without reading it: device, inode, size, and modification and
 * change times in nanoseconds (the change time moves on every write and cannot be set back, unlike the
 * modification time that `touch -d` or `cp -p` restore).
 */
import type { BigIntStats } from 'node:fs';
import { z } from 'zod';

/** A file's identity, as strings where the numbers may exceed 2^53. */
export interface FileIdentity {
  dev: string;
  ino: string;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

/** The schema of a stored {@link FileIdentity}. */
export const fileIdentitySchema = z.object({
  dev: z.string().regex(/^\d+$/),
  ino: z.string().regex(/^\d+$/),
  size: z.number().int().nonnegative(),
  mtimeNs: z.string().regex(/^\d+$/),
  ctimeNs: z.string().regex(/^\d+$/),
});

/** The identity of the file `stats` describes (from `stat(path, { bigint: true })`). */
export function fileIdentity(stats: BigIntStats): FileIdentity {
  return {
    dev: stats.dev.toString(),
    ino: stats.ino.toString(),
    size: Number(stats.size),
    mtimeNs: stats.mtimeNs.toString(),
    ctimeNs: stats.ctimeNs.toString(),
  };
}

/** True when both describe the same version of the same file. */
export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** The later of the file's modification and change times, in milliseconds since the epoch. */
export function lastChangeMs(identity: FileIdentity): number {
  const latest = BigInt(identity.mtimeNs) > BigInt(identity.ctimeNs) ? BigInt(identity.mtimeNs) : BigInt(identity.ctimeNs);
  return Number(latest / 1_000_000n);
}
