/**
 * The factory line: every device makes its own key and CSR, the service signs identity certificates in batches
 * (GraphQL `manufactureDevices`, platform-admin key), and each device checks it got the ID its key implies before
 * its identity file is written.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { createDeviceKey, type NewDeviceKey } from './device-key.js';
import { IDENTITY_FILE_VERSION, writeIdentityFile, type IdentityFile } from './identity.js';

/** The service refuses more CSRs than this in one call (schema/devices.graphql). */
export const MAX_BATCH_SIZE = 1000;

export const MANUFACTURE_MUTATION =
  'mutation($csrs:[String!]!){ manufactureDevices(csrs:$csrs){ index ok deviceId certificate errorCode errorMessage } }';

export interface ManufactureOptions {
  /** Where the gateway listens, e.g. http://localhost:4000 (`/graphql` is appended unless already there). */
  readonly serviceUrl: string;
  /** The platform-admin key: sent as a bearer token, never logged. */
  readonly adminKey: string;
  readonly count: number;
  /** Write `<outDir>/<deviceId>.json` (mode 0600) for each device; omitted: return the identities only. */
  readonly outDir?: string;
  /** CA certificate(s) signing the service's server certificate (the platform root), copied into every file. */
  readonly trustAnchorsPem: string;
  /** CSRs per request. @default 1000 (the most the service takes) */
  readonly batchSize?: number;
  /** Called after each batch. */
  readonly onProgress?: (made: number, total: number) => void;
}

export interface ManufactureFailure {
  readonly index: number;
  readonly errorCode: string;
  readonly errorMessage: string;
}

/** Some devices were not made. The ones that were are in `identities` (and on disk, when outDir was given). */
export class ManufactureError extends Error {
  override readonly name = 'ManufactureError';
  constructor(
    message: string,
    readonly identities: readonly IdentityFile[],
    readonly failures: readonly ManufactureFailure[],
  ) {
    super(message);
  }
}

export async function manufacture(opts: ManufactureOptions): Promise<IdentityFile[]> {
  if (!Number.isSafeInteger(opts.count) || opts.count < 1) throw new RangeError(`count must be a positive integer, got ${opts.count}`);
  const batchSize = opts.batchSize ?? MAX_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new RangeError(`batchSize must be 1-${MAX_BATCH_SIZE}, got ${batchSize}`);
  }
  if (!opts.trustAnchorsPem.includes('-----BEGIN CERTIFICATE-----')) throw new TypeError('trustAnchorsPem holds no PEM certificate');
  if (opts.outDir !== undefined) await mkdir(opts.outDir, { recursive: true, mode: 0o700 });

  const endpoint = graphqlEndpoint(opts.serviceUrl);
  const identities: IdentityFile[] = [];
  const failures: ManufactureFailure[] = [];
  for (let start = 0; start < opts.count; start += batchSize) {
    const keys = await Promise.all(Array.from({ length: Math.min(batchSize, opts.count - start) }, () => createDeviceKey()));
    const results = await requestCertificates(endpoint, opts.adminKey, keys.map((k) => k.csrPem));
    for (const [i, key] of keys.entries()) {
      const outcome = acceptResult(key, results[i], i, opts.trustAnchorsPem);
      if (!outcome.ok) {
        failures.push({ ...outcome.failure, index: start + i });
        continue;
      }
      if (opts.outDir !== undefined) await writeIdentityFile(join(opts.outDir, `${key.deviceId}.json`), outcome.identity);
      identities.push(outcome.identity);
    }
    opts.onProgress?.(identities.length, opts.count);
  }
  if (failures.length > 0) {
    const first = failures[0];
    throw new ManufactureError(
      `${failures.length} of ${opts.count} devices were not manufactured (first: #${first?.index} ${first?.errorCode}: ${first?.errorMessage})`,
      identities,
      failures,
    );
  }
  return identities;
}

const ManufacturedDevice = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  ok: Type.Boolean(),
  deviceId: Type.Union([Type.String(), Type.Null()]),
  certificate: Type.Union([Type.String(), Type.Null()]),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  errorMessage: Type.Union([Type.String(), Type.Null()]),
});
type ManufacturedDevice = Static<typeof ManufacturedDevice>;

const GraphqlResponse = Type.Object({
  data: Type.Optional(
    Type.Union([Type.Null(), Type.Object({ manufactureDevices: Type.Union([Type.Null(), Type.Array(ManufacturedDevice)]) })]),
  ),
  errors: Type.Optional(
    Type.Array(
      Type.Object({
        message: Type.String(),
        extensions: Type.Optional(Type.Object({ code: Type.Optional(Type.String()) })),
      }),
    ),
  ),
});
const checkResponse = TypeCompiler.Compile(GraphqlResponse);

/** One batch: results indexed by position in `csrs`. Throws when the call as a whole fails. */
async function requestCertificates(endpoint: string, adminKey: string, csrs: string[]): Promise<Array<ManufacturedDevice | undefined>> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ query: MANUFACTURE_MUTATION, variables: { csrs } }),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`manufactureDevices: HTTP ${response.status} from ${endpoint}, not a GraphQL response`);
  }
  if (!checkResponse.Check(body)) throw new Error(`manufactureDevices: HTTP ${response.status}, unexpected response shape`);
  const firstError = body.errors?.[0];
  if (firstError) {
    const code = firstError.extensions?.code ?? 'ERROR';
    throw new Error(`manufactureDevices refused: ${code}: ${firstError.message}`);
  }
  const list = body.data?.manufactureDevices;
  if (!list) throw new Error(`manufactureDevices: HTTP ${response.status}, no data`);
  const byIndex: Array<ManufacturedDevice | undefined> = new Array<ManufacturedDevice | undefined>(csrs.length);
  for (const item of list) if (item.index < csrs.length) byIndex[item.index] = item;
  return byIndex;
}

type Accepted = { ok: true; identity: IdentityFile } | { ok: false; failure: Omit<ManufactureFailure, 'index'> };

/** The device's own checks on what came back: its ID, and a certificate for its key. */
function acceptResult(key: NewDeviceKey, result: ManufacturedDevice | undefined, index: number, trustAnchorsPem: string): Accepted {
  if (!result) return refused('MISSING_RESULT', `the service returned no result for CSR ${index}`);
  if (!result.ok || result.certificate === null || result.deviceId === null) {
    return refused(result.errorCode ?? 'REFUSED', result.errorMessage ?? 'refused without a reason');
  }
  if (result.deviceId !== key.deviceId) {
    return refused('DEVICE_ID_MISMATCH', `the service named the device ${result.deviceId.slice(0, 16)}…, its key says ${key.deviceId.slice(0, 16)}…`);
  }
  if (!certificateIsForKey(result.certificate, key.privateKeyPem)) {
    return refused('CERTIFICATE_MISMATCH', 'the returned certificate is not for this device key');
  }
  return {
    ok: true,
    identity: {
      version: IDENTITY_FILE_VERSION,
      deviceId: key.deviceId,
      privateKeyPem: key.privateKeyPem,
      certificatePem: result.certificate.endsWith('\n') ? result.certificate : `${result.certificate}\n`,
      trustAnchorsPem,
    },
  };
}

const refused = (errorCode: string, errorMessage: string): Accepted => ({ ok: false, failure: { errorCode, errorMessage } });

function certificateIsForKey(certificatePem: string, privateKeyPem: string): boolean {
  try {
    return new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch {
    return false;
  }
}

export function graphqlEndpoint(serviceUrl: string): string {
  const url = new URL(serviceUrl);
  if (!url.pathname.endsWith('/graphql')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/graphql`;
  return url.toString();
}
