/** Why an event cannot be stored for its device (times that make no sense, an image the device never ran), or null. */
import type { EntityManager } from '@mikro-orm/core';
import { AllowedImage } from '../certificates/measurement.entities.js';
import { isUuid } from '../shared/ids.js';
import type { InstalledImageView } from '../views.js';
import type { ErrorReportPolicy } from '../shared/service-deps.js';
import { hasNul, NUL_REFUSAL } from '../shared/validation.js';
import type { ErrorEventInput } from '../views.js';
import { needsImage } from './error-categories.js';

const DAY_MS = 86_400_000;

export interface CheckedDevice {
  readonly tenant: string;
  readonly installedImages?: readonly InstalledImageView[] | null;
}

const INT32_MAX = 2_147_483_647;
const isInt32 = (n: number | null): boolean => n === null || (Number.isInteger(n) && Math.abs(n) <= INT32_MAX);

/** The event names an image its device no longer runs: stored only if its tenant allowed that image (imageRefusal). */
export const FORMER_IMAGE = Symbol('former image');

/**
 * Why the event cannot be stored, null if it can, or FORMER_IMAGE when the database decides it (imageRefusal). Synchronous:
 * only that rare case needs the database, so a batch's events are checked without a promise each.
 */
export function checkEvent(policy: ErrorReportPolicy, device: CheckedDevice, e: ErrorEventInput, now: Date): string | null | typeof FORMER_IMAGE {
  // The contract rules these out already; checked again because a batch is stored together with other devices'
  // batches, and a value the database would not take must not cost them their transaction.
  if (!isUuid(e.eventId.toLowerCase())) return 'eventId is not a UUID';
  if ((e.componentId !== null && !isUuid(e.componentId.toLowerCase())) || (e.imageId !== null && !isUuid(e.imageId.toLowerCase()))) return 'componentId and imageId must be UUIDs';
  if (Number.isNaN(e.startTime.getTime()) || Number.isNaN(e.endTime.getTime())) return 'startTime or endTime is not a date';
  if (!isInt32(e.count) || e.count < 1 || !isInt32(e.exitCode) || !isInt32(e.signal)) return 'count, exitCode and signal must be integers in range';
  // Not ruled out by the contract, so that an event with one is refused alone (the text rule of shared/validation).
  if (e.description !== null && hasNul(e.description)) return `description ${NUL_REFUSAL}`;
  if (e.startTime.getTime() > e.endTime.getTime()) return 'startTime is after endTime';
  if (e.endTime.getTime() > now.getTime() + policy.maxClockSkewSeconds * 1000) return 'endTime is in the future';
  if (e.endTime.getTime() < now.getTime() - policy.retentionDays * DAY_MS) return `older than the ${policy.retentionDays}-day retention`;
  if (needsImage(e.category) && (e.componentId === null || e.imageId === null)) return `${e.category} needs componentId and imageId`;
  if (e.componentId === null && e.imageId === null) return null;
  if (e.componentId === null || e.imageId === null) return 'componentId and imageId go together';
  const componentId = e.componentId.toLowerCase();
  const installed = (device.installedImages ?? []).find((i) => i.componentId.toLowerCase() === componentId);
  if (!installed) return `component ${e.componentId} is not installed on this device`;
  if (installed.imageId.toLowerCase() === e.imageId.toLowerCase()) return null;
  return FORMER_IMAGE;
}

/** An event recorded before an update may name the image the device ran then: one its tenant allowed. */
export async function imageRefusal(em: EntityManager, device: CheckedDevice, e: ErrorEventInput): Promise<string | null> {
  const componentId = e.componentId?.toLowerCase() ?? '';
  const known = await em.count(AllowedImage, { tenant: device.tenant, componentId, imageId: e.imageId?.toLowerCase() ?? '' });
  return known > 0 ? null : `image ${e.imageId} is not known for component ${e.componentId}`;
}
