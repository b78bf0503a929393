/**
 * Setting up what the error-ingest and GraphQL scenarios measure against: a tenant with N manufactured and
 * claimed devices, made through the service's own GraphQL API (as an operator would), once per scenario.
 */
import { manufacture } from '../device-agent/manufacture.js';
import type { StormDevice } from './connect-storm.js';
import { startSpheregateTarget, type SpheregateOptions } from './targets.js';

/** One GraphQL-over-HTTP call; any `errors` fail it. */
export async function gql<T>(url: string, key: string, query: string, variables: object = {}): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (!body.data || body.errors) throw new Error(`GraphQL ${res.status}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

export interface ClaimedFleet {
  /** The tenant's Administrator key. */
  readonly tenantKey: string;
  readonly devices: readonly StormDevice[];
  /** The platform root: what a device trusts the broker's server certificate by. */
  readonly rootCaPem: string;
}

/**
 * Starts Spheregate in this process on a data dir (and database), makes the fleet, and stops it again: the
 * measured runs then start their own Spheregate, in its own process when isolated, on the same data.
 */
export async function setUpFleet(dataDir: string, opts: SpheregateOptions, count: number): Promise<ClaimedFleet> {
  const setup = await startSpheregateTarget(dataDir, opts);
  try {
    return await claimedFleet(setup, count);
  } finally {
    await setup.close();
  }
}

/** The service's claimDevices limit per call (schema/devices.graphql). */
const CLAIM_BATCH = 1000;

export async function claimedFleet(service: { graphqlUrl: string; adminKey: string; rootCaPem: string }, count: number, tenantName = 'Bench'): Promise<ClaimedFleet> {
  const { createTenant } = await gql<{ createTenant: { adminKey: { secret: string } } }>(
    service.graphqlUrl,
    service.adminKey,
    'mutation($name: String!) { createTenant(input: { name: $name }) { adminKey { secret } } }',
    { name: tenantName },
  );
  const tenantKey = createTenant.adminKey.secret;
  const identities = await manufacture({ serviceUrl: service.graphqlUrl, adminKey: service.adminKey, count, trustAnchorsPem: service.rootCaPem });
  for (let i = 0; i < identities.length; i += CLAIM_BATCH) {
    const ids = identities.slice(i, i + CLAIM_BATCH).map((d) => d.deviceId);
    const { claimDevices } = await gql<{ claimDevices: Array<{ ok: boolean; errorMessage: string | null }> }>(
      service.graphqlUrl,
      tenantKey,
      'mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { ok errorMessage } }',
      { ids },
    );
    const refused = claimDevices.find((r) => !r.ok);
    if (refused) throw new Error(`claim refused: ${refused.errorMessage ?? '?'}`);
  }
  return {
    tenantKey,
    devices: identities.map((i) => ({ deviceId: i.deviceId, keyPem: i.privateKeyPem, certificatePem: i.certificatePem })),
    rootCaPem: service.rootCaPem,
  };
}
