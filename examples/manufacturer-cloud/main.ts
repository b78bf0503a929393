/**
 * Runs the example manufacturer cloud from the command line (after `npm run build`):
 *
 *   SPHEREGATE_URL=http://localhost:4000 SPHEREGATE_KEY=sgk_... node dist/examples/manufacturer-cloud/main.js
 *
 * It reads its tenant and the CA chain over GraphQL with the tenant's key, serves TLS on CLOUD_PORT (default
 * 8443) with Spheregate's development server certificate (data/pki/server.pem, for localhost), and reloads the
 * tenant's CRL every minute.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startManufacturerCloud } from './cloud.js';

async function graphql<T>(url: string, key: string, query: string): Promise<T> {
  const res = await fetch(new URL('/graphql', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (!body.data) throw new Error(`GraphQL: ${JSON.stringify(body.errors)}`);
  return body.data;
}

const spheregateUrl = process.env['SPHEREGATE_URL'] ?? 'http://localhost:4000';
const key = process.env['SPHEREGATE_KEY'];
if (!key) throw new Error('set SPHEREGATE_KEY to a tenant API key (any role)');
const dataDir = process.env['SPHEREGATE_DATA_DIR'] ?? './data';
const { tenant, caCertificateChain } = await graphql<{ tenant: { id: string }; caCertificateChain: string }>(
  spheregateUrl,
  key,
  '{ tenant { id } caCertificateChain }',
);
const cloud = await startManufacturerCloud({
  tenantId: tenant.id,
  chainPem: caCertificateChain,
  spheregateUrl,
  serverCertificatePem: await readFile(join(dataDir, 'pki', 'server.pem'), 'utf8'),
  serverKeyPem: await readFile(join(dataDir, 'pki', 'server.key.pem'), 'utf8'),
  port: Number(process.env['CLOUD_PORT'] ?? 8443),
});
console.log(`manufacturer cloud of tenant ${tenant.id} on tls://127.0.0.1:${cloud.port}`);
const stop = (): void => void cloud.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
