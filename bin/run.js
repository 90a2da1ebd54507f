#!/usr/bin/env node
// The CLI is one script, loaded with V8's code cache: see cli-loader.js.
import { setFlagsFromString } from 'node:v8';
import { loadCli } from './cli-loader.js';

// undici parses HTTP with llhttp compiled to WebAssembly. V8 compiles it at once with its baseline compiler
// (Liftoff), then again in the background with its optimising one (TurboFan): on Node 20 that second
// compile costs ~0.1 s of CPU and ~35 MiB of memory, and the process waits for it before it can exit.
// Liftoff's code parses headers and skips through bodies fast enough. Set before the bundle is compiled,
// so the code cache is written and read under the same flags (V8 refuses a cache made under others).
setFlagsFromString('--liftoff-only');
await loadCli().execute({ dir: import.meta.url });
