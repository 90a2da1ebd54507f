/**
 * Test certificates made with the `openssl` CLI in a temp dir: a CA, a server certificate it signed (SANs
 * `IP:127.0.0.1`, `DNS:localhost`, `DNS:registry.test`) and a client certificate it signed (for mutual TLS).
 * Nothing here is trusted anywhere but in the tests that pass these files on.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Paths of PEM files in {@link TestCertificates.dir}. */
export interface TestCertificates {
  dir: string;
  /** The CA certificate: what `--ca-file` and the registry's `clientcas` take. */
  caCert: string;
  caKey: string;
  /** The server certificate (leaf only) and its key, for the registry's `tls` section. */
  serverCert: string;
  serverKey: string;
  /** A client certificate for mutual TLS (extended key usage `clientAuth`) and its key. */
  clientCert: string;
  clientKey: string;
  /** The names the server certificate is valid for. */
  serverNames: readonly string[];
  cleanup(): Promise<void>;
}

/** The SANs of the server certificate. */
export const serverNames = ['127.0.0.1', 'localhost', 'registry.test'] as const;

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (error) {
    throw new Error(`openssl ${args.join(' ')} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** A P-256 key and a CSR for `subject`. */
async function keyAndRequest(dir: string, name: string, subject: string): Promise<void> {
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
}

/** Signs `<name>.csr` with the CA, with the extensions in `extensions` (an openssl extfile). */
async function sign(dir: string, name: string, extensions: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), extensions);
  await openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`],
    dir,
  );
}

/** Makes a CA, a server certificate and a client certificate in a fresh temp dir (about 100 ms). */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'stowage-tls-'));
  try {
    await openssl(
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2',
        '-subj', '/CN=stowage test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    await keyAndRequest(dir, 'server', '/CN=registry.test');
    const sans = serverNames.map((name) => (/^[\d.]+$/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
    await sign(dir, 'server', `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans}\n`);
    await keyAndRequest(dir, 'client', '/CN=stowage test client');
    await sign(dir, 'client', 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    serverNames,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
