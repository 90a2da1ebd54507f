#!/usr/bin/env node
// The credential helper Docker and ORAS run for registries whose config.json "credHelpers" entry is "stowage"
// (written by `stowage login --credential-store keychain`): it answers from the OS keychain.
// Protocol: docker-credential-stowage get|store|erase|list, input on stdin, answer on stdout.
import { KeychainStore, serveCredentialHelper } from '../dist/src/index.js';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const answer = await serveCredentialHelper(process.argv[2] ?? '', Buffer.concat(chunks).toString('utf8'), new KeychainStore());
process.stdout.write(answer.stdout);
process.exitCode = answer.exitCode;
