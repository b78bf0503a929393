import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Tenant } from '../tenancy/tenant.entity.js';
import type { OsFeed, UpdatePolicy } from '../views.js';
import { Product } from './product.entity.js';

export const OS_FEEDS: readonly OsFeed[] = ['Retail', 'RetailEval'];
export const UPDATE_POLICIES: readonly UpdatePolicy[] = ['UpdateAll', 'No3rdPartyAppUpdates'];

/** A set of devices of one product sharing update settings. The tenant is kept too, so scoping needs no join. */
export const DeviceGroup = defineEntity({
  name: 'DeviceGroup',
  tableName: 'device_group',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    product: p.manyToOne(Product).mapToPk(),
    name: p.string().length(50),
    nameKey: p.string().length(50),
    description: p.string().length(500),
    /** Plain strings checked by the service, like ApiKey.role (see there why not p.enum). */
    osFeed: p.string().length(20).$type<OsFeed>(),
    updatePolicy: p.string().length(30).$type<UpdatePolicy>(),
    createdAt: p.datetime(),
  },
  uniques: [{ properties: ['product', 'nameKey'] }],
  indexes: [{ properties: ['tenant', 'product'] }],
});

export type DeviceGroupEntity = InferEntity<typeof DeviceGroup>;
