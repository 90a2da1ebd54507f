/**
 * Transport options for registries, turned into an undici Dispatcher for {@link HttpClient}: TLS trust
 * (`caFile`, `insecure`), a client certificate for mutual TLS, `--resolve` style address overrides, and the
 * proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext, rootCertificates, TLSSocket, type ConnectionOptions } from 'node:tls';
import type { Dispatcher } from 'undici';
import { describeError, StowageError } from '../errors.js';
import { Agent, buildConnector, EnvHttpProxyAgent, type Connector } from './undici.js';

/** Options of {@link createDispatcher}. */
export interface TransportOptions {
  /** Skip TLS certificate verification (ORAS `--insecure`). The connection is still encrypted. */
  insecure?: boolean;
  /** A PEM file of CA certificates trusted in addition to Node's bundled roots (`--ca-file`). */
  caFile?: string;
  /** A PEM client certificate for mutual TLS (`--cert-file`); needs `keyFile`. */
  certFile?: string;
  /** The PEM private key of `certFile` (`--key-file`), unencrypted. */
  keyFile?: string;
  /**
   * Address overrides, as ORAS's `--resolve host:port:address[:address_port]`: connections to `host:port` go
   * to `address:address_port` (default: the same port), while TLS (SNI, certificate name) and the `Host`
   * header keep the original host. `address` is an IP address (IPv6 in brackets). A host given here is
   * reached directly, never through a proxy.
   */
  resolve?: readonly string[];
  /**
   * Where to read `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (lowercase names first, as curl does).
   * Default: `process.env`. Pass `{}` for no proxy whatever the environment says.
   */
  env?: Readonly<Record<string, string | undefined>>;
}

/** One parsed `--resolve` value. */
export interface ResolveRule {
  /** The host as in URLs, lowercase (IPv6 without brackets). */
  host: string;
  port: number;
  /** The IP address to connect to instead (IPv6 without brackets). */
  address: string;
  addressPort: number;
}

const hostPattern = '(\\[[0-9A-Fa-f:.]+\\]|[^:[\\]]+)';
const resolvePattern = new RegExp(`^${hostPattern}:([0-9]{1,5}):${hostPattern}(?::([0-9]{1,5}))?$`);

function unbracket(host: string): string {
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

function portOf(text: string, value: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new StowageError('INVALID_ARGUMENT', `invalid --resolve "${value}": port ${text} is not between 1 and 65535`);
  }
  return port;
}

/**
 * Parses one `host:port:address[:address_port]` value (ORAS `--resolve`).
 * @throws StowageError `INVALID_ARGUMENT` when the value is malformed or `address` is not an IP address.
 */
export function parseResolveRule(value: string): ResolveRule {
  const match = resolvePattern.exec(value.trim());
  const [, host, port, address, addressPort] = match ?? [];
  if (host === undefined || port === undefined || address === undefined) {
    throw new StowageError('INVALID_ARGUMENT', `invalid --resolve "${value}": expected host:port:address[:address_port]`);
  }
  const ip = unbracket(address);
  if (isIP(ip) === 0) {
    throw new StowageError('INVALID_ARGUMENT', `invalid --resolve "${value}": "${address}" is not an IP address`);
  }
  const hostPort = portOf(port, value);
  return { host: unbracket(host).toLowerCase(), port: hostPort, address: ip, addressPort: addressPort === undefined ? hostPort : portOf(addressPort, value) };
}

/** Reads a PEM file a flag named. */
function readPem(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? error.code : undefined;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : describeError(error);
    throw new StowageError('FILE_NOT_FOUND', `${flag} ${path}: ${reason}`, { cause: error });
  }
}

/** Checks that a PEM file holds at least one certificate (OpenSSL silently ignores a CA file that does not). */
function checkCertificate(pem: string, path: string, flag: string): void {
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new StowageError('INVALID_ARGUMENT', `${flag} ${path}: not a PEM certificate (${describeError(error)})`, { cause: error });
  }
}

/** The first non-empty value among `names`. */
function envValue(env: TransportOptions['env'], ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env?.[name];
    if (value !== undefined && value.trim() !== '') return value.trim();
  }
  return undefined;
}

/** A proxy URL from the environment; like Go and curl, `host:port` without a scheme means `http://`. */
function proxyUrl(value: string | undefined, name: string): string {
  if (value === undefined) return '';
  const withScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch (error) {
    throw new StowageError('INVALID_ARGUMENT', `${name}: invalid proxy URL`, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StowageError('INVALID_ARGUMENT', `${name}: unsupported proxy scheme "${url.protocol}" (use http:// or https://)`);
  }
  return url.href;
}

/** The TLS settings stowage sets (a subset of Node's, so undici's connector accepts them as they are). */
type TlsSettings = Pick<ConnectionOptions, 'rejectUnauthorized' | 'ca' | 'cert' | 'key' | 'checkServerIdentity'>;

/** The TLS options of every connection to a registry, checked now so a bad file fails before any request. */
function tlsOptions(options: TransportOptions): TlsSettings {
  const tls: TlsSettings = {};
  if (options.insecure === true) tls.rejectUnauthorized = false;
  if (options.caFile !== undefined) {
    const pem = readPem(options.caFile, '--ca-file');
    checkCertificate(pem, options.caFile, '--ca-file');
    // Setting `ca` replaces Node's trust store: keep the bundled roots beside the extra CA.
    tls.ca = [...rootCertificates, pem];
  }
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw new StowageError('INVALID_ARGUMENT', 'a client certificate needs both --cert-file and --key-file');
  }
  if (options.certFile !== undefined && options.keyFile !== undefined) {
    const cert = readPem(options.certFile, '--cert-file');
    const key = readPem(options.keyFile, '--key-file');
    checkCertificate(cert, options.certFile, '--cert-file');
    try {
      createSecureContext({ cert, key });
    } catch (error) {
      throw new StowageError('INVALID_ARGUMENT', `--cert-file ${options.certFile} with --key-file ${options.keyFile}: unusable client certificate (${describeError(error)})`, {
        cause: error,
      });
    }
    tls.cert = cert;
    tls.key = key;
  }
  return tls;
}

// Alerts a server sends about the client's certificate (the client checks the server's itself, with no alert).
const clientCertificateAlert = /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED)$/;
/** How long to wait for a server's verdict on the client certificate before using the connection anyway. */
const clientCertificateVerdictMs = 2_000;

/** A TLS failure caused by the client certificate, said in words; `code` is OpenSSL's. */
class ClientCertificateError extends Error {
  readonly code: string;
  constructor(message: string, cause: Error & { code?: unknown }) {
    super(message, { cause });
    this.code = typeof cause.code === 'string' ? cause.code : 'ERR_TLS_CLIENT_CERTIFICATE';
  }
}

function explainTlsError(error: Error & { code?: unknown }, hasClientCertificate: boolean): Error {
  if (typeof error.code !== 'string' || !clientCertificateAlert.test(error.code)) return error;
  return new ClientCertificateError(
    hasClientCertificate
      ? 'the registry refused the client certificate of --cert-file (mutual TLS)'
      : 'the registry asks for a client certificate (mutual TLS): give one with --cert-file and --key-file',
    error,
  );
}

/**
 * Wraps a connector so that a refused client certificate fails the connection with a clear error. With TLS
 * 1.3 the server judges the client's certificate after the client's handshake is done, and its alert comes
 * on the first read, which undici reports as "other side closed". So when the server asked for a
 * certificate (it sent signature algorithms for one), wait for its verdict before handing the socket on: a
 * session ticket (accepted), an alert (refused), or, from a server that sends neither, a short timeout.
 */
function checkingClientCertificate(connector: Connector, hasClientCertificate: boolean): Connector {
  return (connectOptions, callback) => {
    connector(connectOptions, (error, socket) => {
      if (error !== null) {
        callback(explainTlsError(error, hasClientCertificate), null);
        return;
      }
      if (!(socket instanceof TLSSocket) || socket.getSharedSigalgs().length === 0) {
        callback(null, socket);
        return;
      }
      const settle = (failure: Error | undefined): void => {
        clearTimeout(timer);
        socket.off('session', onSession).off('error', onError).off('close', onClose);
        // Not from inside the socket's own event: undici then never sees the socket become readable.
        setImmediate(() => {
          if (failure === undefined) callback(null, socket);
          else callback(failure, null);
        });
      };
      const onSession = (): void => {
        settle(undefined);
      };
      const onError = (failure: Error): void => {
        settle(explainTlsError(failure, hasClientCertificate));
      };
      const onClose = (): void => {
        settle(new Error('the registry closed the TLS connection after the handshake'));
      };
      const timer = setTimeout(onSession, clientCertificateVerdictMs);
      socket.on('session', onSession).on('error', onError).on('close', onClose);
    });
  };
}

/**
 * The undici Dispatcher for {@link HttpClient}'s `dispatcher` option, from transport options. Without a
 * proxy in `env` it is an `Agent`; with one, an `EnvHttpProxyAgent` (plain-HTTP requests in absolute form,
 * HTTPS through `CONNECT`; `NO_PROXY` and `--resolve` hosts connect directly). Files are read now, once.
 * @throws StowageError `FILE_NOT_FOUND` (a CA, certificate or key file is missing or unreadable; the message
 *   names the flag and the path), `INVALID_ARGUMENT` (a file that is not PEM, a certificate without its key
 *   or a key that does not match it, a malformed `resolve` value, a proxy variable that is not a URL).
 */
export function createDispatcher(options: TransportOptions = {}): Dispatcher {
  const tls = tlsOptions(options);
  const rules = (options.resolve ?? []).map(parseResolveRule);
  const hasClientCertificate = tls.cert !== undefined;
  const direct = checkingClientCertificate(buildConnector(tls), hasClientCertificate);
  const overrides = new Map<string, Connector>();
  for (const rule of rules) {
    // The certificate must name the host the user asked for, not the address connected to.
    const connector = checkingClientCertificate(
      buildConnector({ ...tls, checkServerIdentity: (_hostname, cert) => checkServerIdentity(rule.host, cert) }),
      hasClientCertificate,
    );
    const port = String(rule.addressPort);
    overrides.set(`${rule.host}:${rule.port}`, (connectOptions, callback) => {
      connector({ ...connectOptions, hostname: rule.address, port }, callback);
    });
  }
  const connect: Connector = (connectOptions, callback) => {
    const port = Number(connectOptions.port) || (connectOptions.protocol === 'https:' ? 443 : 80);
    const override = overrides.get(`${unbracket(connectOptions.hostname).toLowerCase()}:${port}`);
    (override ?? direct)(connectOptions, callback);
  };

  const env = options.env ?? process.env;
  const httpProxy = proxyUrl(envValue(env, 'http_proxy', 'HTTP_PROXY'), 'HTTP_PROXY');
  const httpsProxy = proxyUrl(envValue(env, 'https_proxy', 'HTTPS_PROXY'), 'HTTPS_PROXY');
  if (httpProxy === '' && httpsProxy === '') return new Agent({ connect });
  const noProxy = [envValue(env, 'no_proxy', 'NO_PROXY'), ...rules.map((rule) => `${isIP(rule.host) === 6 ? `[${rule.host}]` : rule.host}:${rule.port}`)].filter((entry) => entry !== undefined).join(',');
  // Every value is given, even empty, so undici never falls back to process.env behind the caller's back.
  return new EnvHttpProxyAgent({ httpProxy, httpsProxy, noProxy, connect, requestTls: tls, proxyTunnel: false });
}
