import { expect } from 'vitest';
import { StowageError, type ErrorCode } from '../../src/errors.js';

/** Runs `fn`, expecting it to throw a StowageError with `code`; returns the error. */
export function expectCode(fn: () => unknown, code: ErrorCode): StowageError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(StowageError);
  const error = caught as StowageError;
  expect(error.code).toBe(code);
  return error;
}
