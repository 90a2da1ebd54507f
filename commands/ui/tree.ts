/** Tree output (`discover`): box-drawing branches, as `tree` and ORAS draw them. */

/** A line of the tree and the lines below it. */
export interface TreeNode {
  label: string;
  children: TreeNode[];
}

/** The lines of a tree: the root's label, then every child indented under `├── ` / `└── `. */
export function renderTree(root: TreeNode): string[] {
  const lines = [root.label];
  const walk = (node: TreeNode, prefix: string): void => {
    node.children.forEach((child, index) => {
      const last = index === node.children.length - 1;
      lines.push(`${prefix}${last ? '└── ' : '├── '}${child.label}`);
      walk(child, `${prefix}${last ? '    ' : '│   '}`);
    });
  };
  walk(root, '');
  return lines;
}

const yamlKeywords = /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~)$/;
const yamlNumber = /^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|0[xX][0-9a-fA-F_]+|0[oO]?[0-7_]+|0[bB][01_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;
const yamlTimestamp = /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:$|[Tt ])/;

/**
 * A string as a YAML scalar, the way ORAS prints annotation keys and values in its tree: plain when YAML
 * would read it back as that string, single-quoted when it would read as a boolean, number or null (or
 * starts with an indicator), double-quoted when it looks like a timestamp or holds control characters.
 */
export function yamlScalar(value: string): string {
  if (value === '') return '""';
  if (yamlTimestamp.test(value) || hasControlCharacter(value)) return JSON.stringify(value);
  const needsQuotes =
    yamlKeywords.test(value) ||
    yamlNumber.test(value) ||
    /^[-?:,[\]{}#&*!|>'"%@`\s]/.test(value) ||
    /\s$/.test(value) ||
    value.includes(': ') ||
    value.includes(' #') ||
    value.endsWith(':');
  return needsQuotes ? `'${value.replace(/'/g, "''")}'` : value;
}

function hasControlCharacter(value: string): boolean {
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
