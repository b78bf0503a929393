/**
 * devices/{id}/up/status: decode -> presence.reportStatus -> outcome; then, where this node delivers updates, the
 * device's state in its deployment is re-derived from what it runs and its target is sent on down/update.
 */
import { decode, type Payload } from '../../contract/mqtt/codec.js';
import type { DeviceStatusReport } from '../../domain/views.js';
import { deviceFacingError } from '../errors.js';
import { updateMessage } from '../update-target.js';
import type { IngestContext } from './context.js';
import { rejected, stored, type IngestOutcome } from './outcome.js';

export async function ingestStatus(ctx: IngestContext, payload: Uint8Array): Promise<IngestOutcome> {
  const decoded = decode('status', payload);
  if (!decoded.ok) return rejected({ code: 'BAD_PAYLOAD', message: decoded.error });
  try {
    await ctx.presence.reportStatus(ctx.deviceId, toDomainReport(decoded.value));
    if (ctx.deployments && ctx.delivery) {
      const target = await ctx.deployments.statusReported(ctx.deviceId);
      await ctx.reply('update', updateMessage(target, ctx.delivery));
    }
    return stored;
  } catch (error) {
    const facing = deviceFacingError(error);
    if (facing === null) throw error;
    return rejected(facing);
  }
}

function toDomainReport(report: Payload<'status'>): DeviceStatusReport {
  return {
    osVersion: report.osVersion,
    uptimeSeconds: report.uptimeSeconds,
    installedImages: report.installedImages.map((image) => ({
      componentId: image.componentId,
      imageId: image.imageId,
      name: image.name ?? null,
      version: image.version ?? null,
    })),
  };
}
