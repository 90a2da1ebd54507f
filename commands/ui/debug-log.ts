/**
 * `--debug` output of HTTP exchanges on stderr: each request with its headers, each answer with its status,
 * headers and time. The library hands over events already redacted (no credentials, cookies or tokens).
 */
import type { HttpExchangeEvent } from '../../src/index.js';

function headerLines(prefix: string, headers: Record<string, string | string[]>): string[] {
  const lines: string[] = [];
  for (const name of Object.keys(headers).sort()) {
    const value = headers[name];
    for (const item of typeof value === 'string' ? [value] : (value ?? [])) lines.push(`${prefix}   ${name}: ${item}`);
  }
  return lines;
}

/** The lines one event is shown as (without the trailing newline). */
export function formatExchange(event: HttpExchangeEvent): string[] {
  const tag = `[debug] http #${event.id}`;
  switch (event.kind) {
    case 'request':
      return [`${tag} > ${event.method} ${event.url}`, ...headerLines(`${tag} >`, event.headers)];
    case 'response':
      return [`${tag} < ${event.status} ${event.method} ${event.url} (${event.durationMs} ms)`, ...headerLines(`${tag} <`, event.headers)];
    case 'error':
      return [`${tag} ! ${event.method} ${event.url} failed after ${event.durationMs} ms: ${event.message.split('\n')[0] ?? ''}`];
  }
}

/** An `onExchange` listener that writes to stderr (or `write`). */
export function debugExchangeLog(write: (text: string) => void = (text) => process.stderr.write(text)): (event: HttpExchangeEvent) => void {
  return (event) => {
    write(`${formatExchange(event).join('\n')}\n`);
  };
}
