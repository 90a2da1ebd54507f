// Preloaded with `node --import` (NODE_OPTIONS): appends the URL of every module loaded through `import`
// (ES modules, and CommonJS files imported from them, not what those files `require`) to the file named by
// $STOWAGE_RECORD_MODULES, one a line. For tests of what the CLI loads at start-up.
import { register } from 'node:module';

const hooks = `
import { appendFileSync } from 'node:fs';
export async function load(url, context, nextLoad) {
  const file = process.env.STOWAGE_RECORD_MODULES;
  if (file) appendFileSync(file, url + '\\n');
  return nextLoad(url, context);
}
`;

register(`data:text/javascript,${encodeURIComponent(hooks)}`);
