/**
 * A deployment's counts, as one grouped query over its rows (the (deployment, admitted, state) index): every device
 * report announces them, and a COUNT per state through the ORM made that the largest cost of a fleet's update.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { DeploymentProgress } from '../views.js';
import { DeploymentDevice } from './deployment.entities.js';
import type { DeviceUpdateState } from './rollout.js';

interface CountRow {
  readonly admitted: unknown;
  readonly state: DeviceUpdateState;
  readonly n: unknown;
}

export async function progressOf(em: EntityManager, deploymentId: string): Promise<DeploymentProgress> {
  const meta = em.getMetadata().get(DeploymentDevice.meta.className);
  const column = (property: 'deployment' | 'admitted' | 'state'): string => {
    const name = meta.properties[property]?.fieldNames[0];
    if (!name) throw new Error(`no column for DeploymentDevice.${property}`);
    return name;
  };
  const [deployment, admitted, state] = [column('deployment'), column('admitted'), column('state')];
  const rows: CountRow[] = await em
    .getConnection()
    .execute(`select ${admitted} as admitted, ${state} as state, count(*) as n from ${meta.tableName} where ${deployment} = ? group by ${admitted}, ${state}`, [deploymentId], 'all');
  const progress = { total: 0, pending: 0, downloading: 0, installing: 0, installed: 0, failed: 0, rejected: 0 };
  for (const row of rows) {
    // SQLite answers 0/1 and a number, PostgreSQL a boolean and a bigint as text.
    const n = Number(row.n);
    progress.total += n;
    if (Number(row.admitted) !== 1 || row.state === 'PENDING') progress.pending += n;
    else if (row.state === 'DOWNLOADING') progress.downloading += n;
    else if (row.state === 'INSTALLING') progress.installing += n;
    else if (row.state === 'INSTALLED') progress.installed += n;
    else if (row.state === 'FAILED') progress.failed += n;
    else if (row.state === 'REJECTED') progress.rejected += n;
  }
  return progress;
}
