/** Every persisted entity, for the ORM configuration (infra/db) and the schema-diff test. */
import { Device } from './devices/device.entity.js';
import { DeviceGroup } from './products/device-group.entity.js';
import { Product } from './products/product.entity.js';
import { ApiKey } from './tenancy/api-key.entity.js';
import { Tenant } from './tenancy/tenant.entity.js';

export { ApiKey, Device, DeviceGroup, Product, Tenant };

export const ENTITIES = [Tenant, ApiKey, Product, DeviceGroup, Device] as const;
