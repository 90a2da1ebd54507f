/**
 * The terminal progress is drawn on, as ora needs it: {@link TerminalStream} wraps process.stderr (or a
 * fake terminal in tests) in a TTY-like stream.
 */
import { clearLine, cursorTo, moveCursor, type Direction } from 'node:readline';
import { Writable } from 'node:stream';

/** Where progress is drawn: a terminal (process.stderr), or a fake one in tests. */
export interface Terminal {
  write(text: string): boolean;
  isTTY?: boolean;
  /** Width in columns; 0 or missing means unknown (a pty without a size). */
  columns?: number;
  rows?: number;
}

/**
 * What ora draws on: passes writes through to the terminal at once, and reports a usable width. A pty
 * without a size reports 0 columns, on which ora would count lines as Infinity and never stop clearing.
 */
export class TerminalStream extends Writable {
  private readonly terminal: Terminal;
  readonly isTTY = true;

  constructor(terminal: Terminal) {
    super({ decodeStrings: false });
    this.terminal = terminal;
  }

  get columns(): number {
    return this.terminal.columns !== undefined && this.terminal.columns > 0 ? this.terminal.columns : 80;
  }

  get rows(): number {
    return this.terminal.rows !== undefined && this.terminal.rows > 0 ? this.terminal.rows : 24;
  }

  // What ora calls on a TTY stream (tty.WriteStream's cursor methods).
  cursorTo(x: number, y?: number): boolean {
    return cursorTo(this, x, y);
  }

  moveCursor(dx: number, dy: number): boolean {
    return moveCursor(this, dx, dy);
  }

  clearLine(direction: Direction): boolean {
    return clearLine(this, direction);
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.terminal.write(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
    callback();
  }
}
