import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** Who runs a once-per-cluster job (purges, sweeps) until when. See cluster-lease.ts. */
export const JobLease = defineEntity({
  name: 'JobLease',
  tableName: 'job_lease',
  properties: {
    name: p.string().length(100).primary(),
    holder: p.string().length(100),
    leasedUntil: p.datetime(),
  },
});
export type JobLeaseEntity = InferEntity<typeof JobLease>;
