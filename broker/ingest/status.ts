/** devices/{id}/up/status: decode -> presence.reportStatus -> outcome. */
import { decode, type Payload } from '../../contract/mqtt/codec.js';
import type { PresenceService } from '../../domain/services.js';
import type { DeviceStatusReport } from '../../domain/views.js';
import { deviceFacingError } from '../errors.js';
import { rejected, stored, type IngestOutcome } from './outcome.js';

export async function ingestStatus(presence: PresenceService, deviceId: string, payload: Uint8Array): Promise<IngestOutcome> {
  const decoded = decode('status', payload);
  if (!decoded.ok) return rejected({ code: 'BAD_PAYLOAD', message: decoded.error });
  try {
    await presence.reportStatus(deviceId, toDomainReport(decoded.value));
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
