/**
 * Claims devices into a tenant and assigns them to a device group, as a manufacturer's tooling would, over the
 * gateway with a tenant API key (Contributor or Administrator), in batches of the most the service takes.
 */
import { graphqlEndpoint, MAX_BATCH_SIZE } from './manufacture.js';

const CLAIM = `mutation($ids: [ID!]!) { claimDevices(deviceIds: $ids) { deviceId ok errorCode } }`;
const ASSIGN = `mutation($ids: [ID!]!, $g: ID!) { assignDevices(deviceIds: $ids, deviceGroupId: $g) { deviceId ok errorCode } }`;

type Result = { deviceId: string; ok: boolean; errorCode: string | null };

export async function claimIntoGroup(opts: {
  readonly serviceUrl: string;
  readonly tenantKey: string;
  readonly deviceIds: readonly string[];
  readonly deviceGroupId: string;
}): Promise<void> {
  const endpoint = graphqlEndpoint(opts.serviceUrl);
  for (let start = 0; start < opts.deviceIds.length; start += MAX_BATCH_SIZE) {
    const ids = opts.deviceIds.slice(start, start + MAX_BATCH_SIZE);
    for (const [name, query, variables] of [
      ['claimDevices', CLAIM, { ids }],
      ['assignDevices', ASSIGN, { ids, g: opts.deviceGroupId }],
    ] as const) {
      const results = await post(endpoint, opts.tenantKey, name, query, variables);
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0) throw new Error(`${name}: ${failed.length} of ${ids.length} refused (${failed[0]?.errorCode ?? '?'} for ${failed[0]?.deviceId.slice(0, 12)}…)`);
    }
  }
}

async function post(endpoint: string, key: string, name: string, query: string, variables: object): Promise<Result[]> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json().catch(() => null)) as { data?: Record<string, Result[] | undefined> | null; errors?: Array<{ message: string }> } | null;
  const list = body?.data?.[name];
  if (!list) throw new Error(`${name}: HTTP ${response.status}: ${body?.errors?.[0]?.message ?? 'no data'}`);
  return list;
}
