/** Interactive prompts on a terminal (login): a visible line, or a hidden one with no echo. Prompts go to stderr. */
import { createInterface } from 'node:readline/promises';
import { StowageError } from '../../src/index.js';

/** True when the user can be asked: stdin is a terminal. */
export function canPrompt(): boolean {
  return process.stdin.isTTY;
}

/** Asks for a line the user sees as they type it. */
export async function promptLine(question: string, signal?: AbortSignal): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await rl.question(question, signal === undefined ? {} : { signal })).trim();
  } catch (error) {
    if (signal?.aborted === true) throw new StowageError('ABORTED', 'interrupted', { cause: error });
    throw error;
  } finally {
    rl.close();
  }
}

// Arrow keys, Home, End and the like: escape sequences that must not end up in a password.
// eslint-disable-next-line no-control-regex
const escapeSequence = /\u001b(?:\[[0-9;]*[A-Za-z~]|O[A-Za-z]|.)?/g;

/**
 * Asks for a secret with echo off (the terminal in raw mode): Enter ends it, Backspace deletes, Ctrl-C
 * cancels (`ABORTED`), Ctrl-U clears.
 */
export function promptHidden(question: string, signal?: AbortSignal): Promise<string> {
  const stdin = process.stdin;
  // Echo goes off before the prompt shows, so nothing typed after it is echoed.
  stdin.setRawMode(true);
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    const chars: string[] = [];
    const finish = (): void => {
      stdin.off('data', onData);
      signal?.removeEventListener('abort', onAbort);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onAbort = (): void => {
      finish();
      reject(new StowageError('ABORTED', 'interrupted'));
    };
    const onData = (chunk: Buffer | string): void => {
      const text = (typeof chunk === 'string' ? chunk : chunk.toString('utf8')).replace(escapeSequence, '');
      for (const char of text) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          finish();
          resolve(chars.join(''));
          return;
        }
        if (char === '\u0003') {
          onAbort();
          return;
        }
        if (char === '\u007f' || char === '\b') chars.pop();
        else if (char === '\u0015') chars.length = 0;
        else if (char >= ' ') chars.push(char);
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stdin.on('data', onData);
    stdin.resume();
  });
}
