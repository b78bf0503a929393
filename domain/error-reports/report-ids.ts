/**
 * IDs of stored error reports: UUID version 7 (RFC 9562), the millisecond time first and 74 random bits after. A
 * fleet stores thousands of reports a second; with random (version 4) IDs every insert lands on a random page of
 * the primary-key index, so each commit rewrites pages all over it, a cost that grows with the table. Time-ordered
 * IDs append to its end. They are no secret (a report is only ever shown to its tenant) and still never collide.
 */
import { randomUUID } from 'node:crypto';

export function newReportId(at: number = Date.now()): string {
  const time = Math.max(0, Math.floor(at)).toString(16).padStart(12, '0').slice(-12);
  // A version 4 UUID supplies the random bits (node keeps a pool of them): xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx.
  const random = randomUUID();
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(15)}`;
}
