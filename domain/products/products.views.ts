import type { DeviceGroupView, ProductView } from '../views.js';
import type { DeviceGroupEntity } from './device-group.entity.js';
import type { ProductEntity } from './product.entity.js';

export const toProductView = (p: ProductEntity): ProductView => ({
  id: p.id,
  tenantId: p.tenant,
  name: p.name,
  description: p.description,
  createdAt: p.createdAt,
});

export const toDeviceGroupView = (g: DeviceGroupEntity): DeviceGroupView => ({
  id: g.id,
  tenantId: g.tenant,
  productId: g.product,
  name: g.name,
  description: g.description,
  osFeed: g.osFeed,
  updatePolicy: g.updatePolicy,
  createdAt: g.createdAt,
});
