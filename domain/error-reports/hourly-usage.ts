/**
 * How many events each device stored in the rolling hour, for its hourly limit. Counting them in the database is
 * a range of the (device, receivedAt) index as long as the device's last hour, read again by every flush; so each
 * device's count is kept here after a flush commits, and the next flush brings it forward with the two short
 * ranges that changed since: rows received after it (by any node) and rows that have left the hour. A count older
 * than MAX_AGE_MS is read afresh, which bounds what a concurrent writer's late commit (a row received before the
 * kept count but committed after it was read) can hide.
 */
import type { EntityManager } from '@mikro-orm/core';
import { chunks, placeholders } from '../shared/persistence.js';
import { HOUR_MS } from './error-categories.js';

const MAX_AGE_MS = 5 * 60_000;
/** Devices per statement, well under both drivers' parameter limits. */
const CHUNK = 200;

interface Kept {
  /** The flush time the count is for: rows received in (at − 1 h, at]. */
  readonly at: number;
  readonly count: number;
}

export function createHourlyUsage() {
  const kept = new Map<string, Kept>();
  let sweptAt = 0;

  /** Per device, rows received in (from, to], in the flush's transaction. */
  async function countBetween(em: EntityManager, deviceIds: readonly string[], from: number, to: number | null): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const platform = em.getPlatform();
    for (const part of chunks(deviceIds, CHUNK)) {
      const upper = to === null ? '' : ' and received_at <= ?';
      const rows: Array<{ device_id: string; n: number | string }> = await em
        .getConnection()
        .execute(
          `select device_id, count(*) as n from error_report where device_id in (${placeholders(part.length)}) and received_at > ?${upper} group by device_id`,
          [...part, platform.processDateProperty(new Date(from)), ...(to === null ? [] : [platform.processDateProperty(new Date(to))])],
          'all',
          em.getTransactionContext(),
        );
      for (const r of rows) counts.set(r.device_id, Number(r.n));
    }
    return counts;
  }

  return {
    /** Each device's events received in the hour before `now` (inside the flush's transaction). */
    async read(em: EntityManager, deviceIds: readonly string[], now: Date): Promise<Map<string, number>> {
      const t = now.getTime();
      const used = new Map<string, number>();
      const afresh: string[] = [];
      const byAt = new Map<number, string[]>();
      for (const id of deviceIds) {
        const k = kept.get(id);
        if (k && k.at <= t && t - k.at <= MAX_AGE_MS) byAt.set(k.at, [...(byAt.get(k.at) ?? []), id]);
        else afresh.push(id);
      }
      if (afresh.length > 0) for (const [id, n] of await countBetween(em, afresh, t - HOUR_MS, null)) used.set(id, n);
      for (const [at, ids] of byAt) {
        const arrived = await countBetween(em, ids, at, t);
        const left = await countBetween(em, ids, at - HOUR_MS, t - HOUR_MS);
        for (const id of ids) used.set(id, (kept.get(id)?.count ?? 0) + (arrived.get(id) ?? 0) - (left.get(id) ?? 0));
      }
      return used;
    },

    /** After COMMIT only: each device's count as of `now`, this flush's rows included. */
    committed(counts: ReadonlyMap<string, number>, now: Date): void {
      const t = now.getTime();
      for (const [id, count] of counts) kept.set(id, { at: t, count });
      if (t - sweptAt > MAX_AGE_MS) {
        for (const [id, k] of kept) if (t - k.at > MAX_AGE_MS) kept.delete(id);
        sweptAt = t;
      }
    },
  };
}
