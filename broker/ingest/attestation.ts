/**
 * devices/{id}/up/attestation: decode the envelope (base64 is transport work), let the domain judge the evidence,
 * and answer on down/attestation-result. A refused attestation is an answer, not a down/error.
 */
import { decode } from '../../contract/mqtt/codec.js';
import type { IngestContext } from './context.js';
import { rejected, stored, type IngestOutcome } from './outcome.js';
import { withDomainRefusals } from './refusals.js';

export async function ingestAttestation(ctx: IngestContext, payload: Uint8Array): Promise<IngestOutcome> {
  const decoded = decode('attestation', payload);
  if (!decoded.ok) return rejected({ code: 'BAD_PAYLOAD', message: decoded.error });
  const { attestation } = ctx;
  if (!attestation) return rejected({ code: 'FORBIDDEN', message: 'this broker node does not broker certificates' });
  const { requestId, statement, signature } = decoded.value;
  return withDomainRefusals(async () => {
    const outcome = await attestation.attest(ctx.deviceId, {
      statement: new Uint8Array(Buffer.from(statement, 'base64')),
      signature: new Uint8Array(Buffer.from(signature, 'base64')),
    });
    await ctx.reply(
      'attestation-result',
      outcome.ok
        ? {
            v: 1,
            requestId,
            result: 'ISSUED',
            certificatePem: outcome.certificatePem,
            chainPem: outcome.chainPem,
            serialNumber: outcome.serialNumber,
            notBefore: outcome.notBefore.toISOString(),
            notAfter: outcome.notAfter.toISOString(),
          }
        : { v: 1, requestId, result: 'REFUSED', reason: outcome.reason, message: outcome.message.slice(0, 500) },
    );
    return stored;
  });
}
