#!/usr/bin/env node
// dist/cli.js is the CLI in one module (scripts/bundle-cli.js): one file to load instead of ~400.
import { execute } from '../dist/cli.js';

await execute({ dir: import.meta.url });
