/**
 * References: `[registry/]repository[:tag][@digest]`, with Docker Hub's normalisation, ports and IPv6
 * hosts, several tags for push and tag (`repo:v1,v2`), and `path[:tag|@digest]` for OCI image layouts.
 */
import { isIPv6 } from 'node:net';
import { StowageError } from '../errors.js';
import { parseDigest } from './digest.js';

/** A parsed, normalised registry reference. */
export interface Reference {
  /** Host and optional port as used in references: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** The repository path: `library/alpine`, `team/app`. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** The registry name Docker Hub has in references. */
export const dockerHub = 'docker.io';
/** The host that serves Docker Hub's registry API. */
export const dockerHubApiHost = 'registry-1.docker.io';
const dockerHubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

// Distribution spec: <name> path components, and tags.
const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
// A DNS name or IPv4 address, then an optional port; or a bracketed IPv6 address and optional port.
const hostPattern = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
// Like distribution/reference, no zone ids (`[fe80::1%eth0]`): a registry URL cannot carry one (WHATWG URL).
const ipv6HostPattern = /^\[([0-9a-fA-F:]+)\](?::[0-9]+)?$/;
const maxNameLength = 255;

function invalid(input: string, reason: string): StowageError {
  return new StowageError('INVALID_REFERENCE', `invalid reference "${input}": ${reason}`);
}

/** True when `tag` is a valid tag (distribution spec: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`). */
export function isValidTag(tag: string): boolean {
  return tagPattern.test(tag);
}

function checkPort(input: string, host: string): void {
  const match = /:([0-9]+)$/.exec(host.startsWith('[') ? host.slice(host.lastIndexOf(']')) : host);
  if (match?.[1] !== undefined) {
    const port = Number(match[1]);
    if (port < 1 || port > 65535) throw invalid(input, `port ${match[1]} is out of range`);
  }
}

/** Lowercases `host[:port]` (IPv6 hex digits too) and maps Docker Hub's aliases to `docker.io`. */
function normaliseHost(host: string): string {
  const lowered = host.toLowerCase();
  return dockerHubAliases.has(lowered) ? dockerHub : lowered;
}

function isValidHost(host: string): boolean {
  if (hostPattern.test(host)) return true;
  const address = ipv6HostPattern.exec(host)?.[1];
  return address !== undefined && isIPv6(address);
}

/** Splits `name` into registry and repository by Docker's rules: a first component with `.`, `:`, `[` or `localhost` is a host. */
function splitName(input: string, name: string): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const isHost = slash !== -1 && (first.includes('.') || first.includes(':') || first.startsWith('[') || first.toLowerCase() === 'localhost');
  if (!isHost) {
    const repository = name.includes('/') ? name : `library/${name}`;
    return { registry: dockerHub, repository };
  }
  if (!isValidHost(first)) {
    const hint = first.startsWith('[') && first.includes('%') ? ' (IPv6 zone ids are not supported)' : '';
    throw invalid(input, `"${first}" is not a valid registry host${hint}`);
  }
  checkPort(input, first);
  const registry = normaliseHost(first);
  let repository = name.slice(slash + 1);
  if (registry === dockerHub && !repository.includes('/')) repository = `library/${repository}`;
  return { registry, repository };
}

/** True when `name` is a valid repository path (distribution spec `<name>`: lowercase components joined by `/`). */
export function isValidRepository(name: string): boolean {
  return name !== '' && name.length <= maxNameLength && name.split('/').every((component) => pathComponent.test(component));
}

function checkRepository(input: string, repository: string): void {
  if (repository === '') throw invalid(input, 'missing repository');
  for (const component of repository.split('/')) {
    if (!pathComponent.test(component)) {
      const hint = /[A-Z]/.test(component) ? ' (repository names must be lowercase)' : '';
      throw invalid(input, `"${component}" is not a valid repository path component${hint}`);
    }
  }
}

/** Splits off `@digest` and `:tag(s)` from the end of a reference. */
function splitSuffixes(input: string): { name: string; tagPart: string | undefined; digest: string | undefined } {
  let rest = input;
  let digest: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest);
    } catch (error) {
      throw invalid(input, error instanceof StowageError ? error.message : 'invalid digest');
    }
  }
  let tagPart: string | undefined;
  const colon = rest.lastIndexOf(':');
  const lastSlash = rest.lastIndexOf('/');
  // A colon after the last slash starts the tag; `[::1]:5000/repo` has its colons before the slash.
  if (colon > lastSlash && !(lastSlash === -1 && rest.startsWith('['))) {
    tagPart = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tagPart, digest };
}

export interface ParseReferenceOptions {
  /** Accept `repo:v1,v2` and return every tag (push and tag do); otherwise a comma is an error. */
  multipleTags?: boolean;
}

/**
 * Parses a reference and returns it with every tag it names (`repo:v1,v2` names two).
 * @throws StowageError `INVALID_REFERENCE` naming the input and what is wrong with it.
 */
export function parseReferenceWithTags(input: string, options: ParseReferenceOptions = {}): { reference: Reference; tags: string[] } {
  if (input.trim() === '') throw invalid(input, 'empty reference');
  if (input !== input.trim() || /\s/.test(input)) throw invalid(input, 'contains whitespace');
  if (input.includes('://')) throw invalid(input, 'a reference has no scheme; drop the "http://" or "https://" prefix');
  const { name, tagPart, digest } = splitSuffixes(input);
  if (name === '') throw invalid(input, 'missing repository');
  if (name.length > maxNameLength) throw invalid(input, `name is longer than ${maxNameLength} characters`);
  const { registry, repository } = splitName(input, name);
  checkRepository(input, repository);
  const tags: string[] = [];
  if (tagPart !== undefined) {
    const parts = tagPart.split(',');
    if (parts.length > 1 && options.multipleTags !== true) throw invalid(input, 'several tags are not allowed here');
    for (const tag of parts) {
      if (tag === '') throw invalid(input, 'empty tag');
      if (!isValidTag(tag)) throw invalid(input, `"${tag}" is not a valid tag (letters, digits, "_", "." and "-", up to 128, not starting with "." or "-")`);
      if (!tags.includes(tag)) tags.push(tag);
    }
  }
  const reference: Reference = { registry, repository };
  if (tags[0] !== undefined) reference.tag = tags[0];
  if (digest !== undefined) reference.digest = digest;
  return { reference, tags };
}

/**
 * Parses one reference `[registry/]repository[:tag][@digest]`.
 * @throws StowageError `INVALID_REFERENCE`.
 */
export function parseReference(input: string): Reference {
  return parseReferenceWithTags(input).reference;
}

/** The tag or digest to address in the API: the digest when there is one, else the tag. */
export function referenceSelector(reference: Pick<Reference, 'tag' | 'digest'>): string | undefined {
  return reference.digest ?? reference.tag;
}

/** Formats a reference back to `registry/repository[:tag][@digest]`. */
export function formatReference(reference: Reference): string {
  let out = `${reference.registry}/${reference.repository}`;
  if (reference.tag !== undefined) out += `:${reference.tag}`;
  if (reference.digest !== undefined) out += `@${reference.digest}`;
  return out;
}

/** The host that serves the registry API for a registry name: Docker Hub's is `registry-1.docker.io`. */
export function apiHost(registry: string): string {
  return registry === dockerHub ? dockerHubApiHost : registry;
}

/** True for registries on loopback (`localhost`, `127.x`, `[::1]`), where ORAS and stowage default to plain HTTP. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.replace(/:[0-9]+$/, '');
  return host === 'localhost' || host === '[::1]' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

/** A reference into an OCI image layout directory: `path[:tag][@digest]`. */
export interface LayoutReference {
  path: string;
  tag?: string;
  digest?: string;
  /** Every tag named (`dir:v1,v2`). */
  tags: string[];
}

/**
 * Parses `path[:tag[,tag...]][@digest]` for `--oci-layout`. The tag is what follows the last `:` after the
 * last `/`.
 * @throws StowageError `INVALID_REFERENCE`.
 */
export function parseLayoutReference(input: string, options: ParseReferenceOptions = {}): LayoutReference {
  if (input === '') throw invalid(input, 'empty layout path');
  const { name, tagPart, digest } = splitSuffixes(input);
  if (name === '') throw invalid(input, 'empty layout path');
  const tags: string[] = [];
  if (tagPart !== undefined) {
    const parts = tagPart.split(',');
    if (parts.length > 1 && options.multipleTags !== true) throw invalid(input, 'several tags are not allowed here');
    for (const tag of parts) {
      if (!isValidTag(tag)) throw invalid(input, `"${tag}" is not a valid tag`);
      if (!tags.includes(tag)) tags.push(tag);
    }
  }
  const out: LayoutReference = { path: name, tags };
  if (tags[0] !== undefined) out.tag = tags[0];
  if (digest !== undefined) out.digest = digest;
  return out;
}
