/** devices/{id}/up/challenge-request: decode -> attestation.challenge -> down/challenge (or a RATE_LIMITED result). */
import { decode } from '../../contract/mqtt/codec.js';
import type { IngestContext } from './context.js';
import { rejected, stored, type IngestOutcome } from './outcome.js';
import { withDomainRefusals } from './refusals.js';

export async function ingestChallengeRequest(ctx: IngestContext, payload: Uint8Array): Promise<IngestOutcome> {
  const decoded = decode('challenge-request', payload);
  if (!decoded.ok) return rejected({ code: 'BAD_PAYLOAD', message: decoded.error });
  const { attestation } = ctx;
  if (!attestation) return rejected({ code: 'FORBIDDEN', message: 'this broker node does not broker certificates' });
  const { requestId } = decoded.value;
  return withDomainRefusals(async () => {
    const challenge = await attestation.challenge(ctx.deviceId);
    if ('refused' in challenge) {
      await ctx.reply('attestation-result', {
        v: 1,
        requestId,
        result: 'REFUSED',
        reason: challenge.refused,
        message: 'too many unused nonces: use or let one expire first',
      });
    } else {
      await ctx.reply('challenge', { v: 1, requestId, nonce: challenge.nonce, expiresAt: challenge.expiresAt.toISOString() });
    }
    return stored;
  });
}
