/**
 * Error and event categories as Azure Sphere's error data names them. The category fixes the event type (planned:
 * updates and reboots; unplanned: crashes and exits) and class (OS or Application). Mirrors the MQTT contract's
 * ERROR_EVENT_CATEGORIES (test/contract-alignment.test.ts keeps them in step).
 */
import { createHash } from 'node:crypto';

export const ERROR_CATEGORIES = ['AppCrash', 'AppExit', 'OSCrash', 'AppUpdate', 'OSUpdate', 'Reboot'] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];
export const ERROR_EVENT_TYPES = ['Planned', 'Unplanned'] as const;
export type ErrorEventType = (typeof ERROR_EVENT_TYPES)[number];
export const ERROR_EVENT_CLASSES = ['OS', 'Application'] as const;
export type ErrorEventClass = (typeof ERROR_EVENT_CLASSES)[number];

export const CATEGORY_KINDS: { readonly [C in ErrorCategory]: { readonly eventType: ErrorEventType; readonly eventClass: ErrorEventClass } } = {
  AppCrash: { eventType: 'Unplanned', eventClass: 'Application' },
  AppExit: { eventType: 'Unplanned', eventClass: 'Application' },
  OSCrash: { eventType: 'Unplanned', eventClass: 'OS' },
  AppUpdate: { eventType: 'Planned', eventClass: 'Application' },
  OSUpdate: { eventType: 'Planned', eventClass: 'OS' },
  Reboot: { eventType: 'Planned', eventClass: 'OS' },
};

/** Application events are about one installed image: they must name its component and image. */
export const needsImage = (category: ErrorCategory): boolean => CATEGORY_KINDS[category].eventClass === 'Application';

/** Azure Sphere's description style: `exit_code=1; signal_status=11`, then the device's own text. */
export function describeEvent(e: { readonly exitCode: number | null; readonly signal: number | null; readonly description: string | null }): string {
  const parts: string[] = [];
  if (e.exitCode !== null) parts.push(`exit_code=${e.exitCode}`);
  if (e.signal !== null) parts.push(`signal_status=${e.signal}`);
  if (e.description) parts.push(e.description);
  return parts.join('; ');
}

export interface IssueSignature {
  readonly category: ErrorCategory;
  readonly componentId: string | null;
  readonly imageId: string | null;
  readonly exitCode: number | null;
  readonly signal: number | null;
}

/** The grouping fields as one string: equal for two events exactly when their signatures are. */
export const signatureFields = (s: IssueSignature): string => [s.category, s.componentId ?? '', s.imageId ?? '', s.exitCode ?? '', s.signal ?? ''].join('|').toLowerCase();

/** What makes two events the same issue. */
export function signatureOf(s: IssueSignature): string {
  return createHash('sha256').update(signatureFields(s)).digest('hex');
}

export const HOUR_MS = 3_600_000;
export const hourBucketOf = (at: Date): number => Math.floor(at.getTime() / HOUR_MS);
