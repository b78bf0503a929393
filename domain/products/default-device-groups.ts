import type { OsFeed, UpdatePolicy } from '../views.js';

/** The five groups Azure Sphere makes with every product, so a device can be assigned right after claiming. */
export const DEFAULT_DEVICE_GROUPS: ReadonlyArray<{
  readonly name: string;
  readonly description: string;
  readonly osFeed: OsFeed;
  readonly updatePolicy: UpdatePolicy;
}> = [
  {
    name: 'Development',
    description: 'Devices on a developer desk: apps are sideloaded, so the cloud sends no application updates.',
    osFeed: 'Retail',
    updatePolicy: 'No3rdPartyAppUpdates',
  },
  {
    name: 'Field Test',
    description: 'Devices under test outside the lab: receive the Retail OS and every application update.',
    osFeed: 'Retail',
    updatePolicy: 'UpdateAll',
  },
  {
    name: 'Production',
    description: 'Devices in customers\u2019 hands: receive the Retail OS and every application update.',
    osFeed: 'Retail',
    updatePolicy: 'UpdateAll',
  },
  {
    name: 'Field Test OS Evaluation',
    description: 'Test devices on the Retail Evaluation OS, to try the next OS release with current applications.',
    osFeed: 'RetailEval',
    updatePolicy: 'UpdateAll',
  },
  {
    name: 'Production OS Evaluation',
    description: 'A few production devices on the Retail Evaluation OS, to catch OS regressions before Retail.',
    osFeed: 'RetailEval',
    updatePolicy: 'UpdateAll',
  },
];
