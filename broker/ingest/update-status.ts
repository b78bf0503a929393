/** devices/{id}/up/update-status: decode -> deployments.reportUpdate. */
import { decode } from '../../contract/mqtt/codec.js';
import type { UpdateState } from '../../contract/mqtt/messages.js';
import type { ImageUpdateState } from '../../domain/deployments/rollout.js';
import type { IngestContext } from './context.js';
import { rejected, stored, type IngestOutcome } from './outcome.js';
import { withDomainRefusals } from './refusals.js';

const STATE: { readonly [S in UpdateState]: ImageUpdateState } = {
  pending: 'PENDING',
  downloading: 'DOWNLOADING',
  installing: 'INSTALLING',
  installed: 'INSTALLED',
  failed: 'FAILED',
  rejected: 'REJECTED',
  'already-installed': 'ALREADY_INSTALLED',
};

export async function ingestUpdateStatus(ctx: IngestContext, payload: Uint8Array): Promise<IngestOutcome> {
  const decoded = decode('update-status', payload);
  if (!decoded.ok) return rejected({ code: 'BAD_PAYLOAD', message: decoded.error });
  const { deployments } = ctx;
  if (!deployments) return rejected({ code: 'FORBIDDEN', message: 'this broker node does not deliver updates' });
  const r = decoded.value;
  return withDomainRefusals(async () => {
    await deployments.reportUpdate(ctx.deviceId, { deploymentId: r.deploymentId, imageId: r.imageId, state: STATE[r.state], reason: r.reason ?? null });
    return stored;
  });
}
