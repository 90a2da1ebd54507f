/** Test data for the progress model and renderer: blob descriptors, a hand-moved clock, the push verbs. */
import { digestOf } from '../../src/oci/digest.js';
import { Annotation, MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/schemas.js';

export const mebibyte = 1024 * 1024;

/** A blob descriptor of `size` bytes, titled when `title` is given. */
export function blob(title: string | undefined, size: number, mediaType: string = MediaType.ociLayer): Descriptor {
  return {
    mediaType,
    digest: digestOf(`${title ?? mediaType} ${size}`),
    size,
    ...(title === undefined ? {} : { annotations: { [Annotation.title]: title } }),
  };
}

/** A clock the test moves by hand. */
export function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let time = 1_000;
  return {
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

export const upload = { active: 'Uploading', done: 'Uploaded' };
