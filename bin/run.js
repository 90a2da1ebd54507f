#!/usr/bin/env node
// The CLI is one script, loaded with V8's code cache: see cli-loader.js.
import { loadCli } from './cli-loader.js';

await loadCli().execute({ dir: import.meta.url });
