/**
 * Once-per-cluster work: every node runs the same timer, and the node that holds a job's lease does the work.
 * Taking the lease is one conditional UPDATE (free, expired, or already ours), so two nodes never both hold it;
 * a node that dies loses it when it expires. The work itself must still be idempotent (a lease can expire
 * mid-run on a stalled node).
 */
import type { EntityManager } from '@mikro-orm/core';
import { isUniqueViolation } from './persistence.js';
import { JobLease } from './job-lease.entity.js';

export async function tryAcquireLease(em: EntityManager, job: string, holder: string, ttlMs: number, now: Date): Promise<boolean> {
  const leasedUntil = new Date(now.getTime() + ttlMs);
  const fork = em.fork();
  const taken = await fork.nativeUpdate(
    JobLease,
    { name: job, $or: [{ leasedUntil: { $lte: now } }, { holder }] },
    { holder, leasedUntil },
  );
  if (taken === 1) return true;
  if ((await fork.count(JobLease, { name: job })) > 0) return false;
  try {
    await fork.insert(JobLease, { name: job, holder, leasedUntil });
    return true;
  } catch (e) {
    if (isUniqueViolation(e)) return false;
    throw e;
  }
}

/** Gives the lease up early (say, on shutdown), so another node need not wait for it to expire. */
export async function releaseLease(em: EntityManager, job: string, holder: string, now: Date): Promise<void> {
  await em.fork().nativeUpdate(JobLease, { name: job, holder }, { leasedUntil: now });
}
