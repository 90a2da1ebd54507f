/** ORAS's inline form of a go-template, `--format go-template=TEMPLATE`, turned into the two flags oclif checks. */
import { StowageError } from '../../src/index.js';

/**
 * ORAS's `--format go-template=TEMPLATE` as `--format go-template --template TEMPLATE`, which oclif's options check takes.
 * @throws StowageError INVALID_ARGUMENT when --template is given too.
 */
export function splitInlineTemplate(argv: readonly string[]): string[] {
  const out: string[] = [];
  let inline = false;
  let separate = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (arg === '--template' || arg.startsWith('--template=')) separate = true;
    let value: string | undefined;
    if (arg === '--format' && argv[i + 1]?.startsWith('go-template=') === true) value = argv[++i];
    else if (arg.startsWith('--format=go-template=')) value = arg.slice('--format='.length);
    if (value === undefined) {
      out.push(arg);
      continue;
    }
    inline = true;
    out.push('--format', 'go-template', '--template', value.slice('go-template='.length));
  }
  if (inline && separate) throw new StowageError('INVALID_ARGUMENT', '--template cannot be used with --format go-template=TEMPLATE: give the template once');
  return out;
}
