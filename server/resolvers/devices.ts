/** Devices: listing, manufacture, claim, assignment, and their live status. */
import { encodeCursor, type Page } from '../../domain/shared/pagination.js';
import type { DeviceResult as DeviceResultView, DeviceView, ManufactureResult } from '../../domain/views.js';
import type {
  DeviceConnection,
  DeviceEdge,
  DeviceResolvers,
  DeviceResult,
  DeviceStatusEventResolvers,
  DeviceStatusResolvers,
  ManufacturedDevice,
  MutationResolvers,
  QueryResolvers,
  SubscriptionResolvers,
} from '../generated/graphql.js';
import { deviceStatusMatcher } from '../subscriptions/device-status-filter.js';
import { eventDevice, sharedRootValue, tenantEventStream } from '../subscriptions/tenant-stream.js';
import { devicePartsSelected } from './device-selection.js';
import { loadDeviceGroup, loadProduct } from './products.js';

type ConnectionOf<T> = Omit<DeviceConnection, 'edges'> & { edges: Array<Omit<DeviceEdge, 'node'> & { node: T }> };

/** An edge whose cursor is encoded only when a client asks for it (most listings never do). */
class Edge<T extends { readonly id: string }> {
  constructor(readonly node: T) {}
  get cursor(): string {
    return encodeCursor(this.node.id);
  }
}

/**
 * Relay-style connection from a domain page. The domain pages devices by ID and hands out the last item's cursor;
 * every edge's cursor is the same encoding of its ID, so a client may resume after any edge.
 */
export function toConnection(page: Page<DeviceView>): ConnectionOf<DeviceView> {
  return {
    totalCount: page.totalCount,
    edges: page.items.map((node) => new Edge(node)),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
  };
}

export function toDeviceResult(r: DeviceResultView): DeviceResult {
  return r.ok
    ? { deviceId: r.deviceId, ok: true, outcome: r.outcome, errorCode: null, errorMessage: null }
    : { deviceId: r.deviceId, ok: false, outcome: null, errorCode: r.code, errorMessage: r.message };
}

export function toManufacturedDevice(r: ManufactureResult, position: number): ManufacturedDevice {
  return r.ok
    ? { index: position, ok: true, deviceId: r.deviceId, certificate: r.certificatePem, errorCode: null, errorMessage: null }
    : { index: r.index, ok: false, deviceId: null, certificate: null, errorCode: r.code, errorMessage: r.message };
}

/** One root value per status event, shared by its subscribers (and so is their execution). */
const statusRoot = sharedRootValue('deviceStatusChanged');

export const devicesResolvers = {
  Query: {
    devices: (_root, { filter, first, after }, { services, actor }, info) =>
      services.devices
        .listDevices(
          actor,
          {
            productId: filter?.productId ?? null,
            deviceGroupId: filter?.deviceGroupId ?? null,
            online: filter?.online ?? null,
            certificateHealth: filter?.certificateHealth ?? null,
          },
          { first: first ?? null, after: after ?? null },
          devicePartsSelected(info),
        )
        // Partial views: the fields this operation resolves read only the parts it selected (device-selection.ts).
        .then((page) => toConnection(page as Page<DeviceView>)),
    device: (_root, { id }, { services, actor }) => services.devices.getDevice(actor, id),
  } satisfies QueryResolvers,
  Mutation: {
    manufactureDevices: (_root, { csrs }, { services, actor }) =>
      services.devices.manufactureDevices(actor, csrs).then((rs) => rs.map(toManufacturedDevice)),
    claimDevices: (_root, { deviceIds }, { services, actor }) =>
      services.devices.claimDevices(actor, deviceIds).then((rs) => rs.map(toDeviceResult)),
    assignDevices: (_root, { deviceIds, deviceGroupId }, { services, actor }) =>
      services.devices.assignDevices(actor, deviceIds, deviceGroupId).then((rs) => rs.map(toDeviceResult)),
  } satisfies MutationResolvers,
  Subscription: {
    deviceStatusChanged: {
      subscribe: (_root, { filter }, ctx) =>
        tenantEventStream(ctx, (tenantId) => {
          const matches = deviceStatusMatcher(tenantId, filter);
          return (event) => (matches(event) ? statusRoot(event) : null);
        }),
    },
  } satisfies SubscriptionResolvers,
  Device: {
    product: (device, _args, ctx) => (device.productId ? loadProduct(ctx, device.productId) : null),
    deviceGroup: (device, _args, ctx) => (device.deviceGroupId ? loadDeviceGroup(ctx, device.deviceGroupId) : null),
  } satisfies DeviceResolvers,
  DeviceStatus: {
    lastSeen: (status) => status.lastSeenAt,
    reportedAt: (status) => status.statusReportedAt,
    installedImages: (status) => [...status.installedImages],
  } satisfies DeviceStatusResolvers,
  DeviceStatusEvent: {
    device: (event, _args, ctx) => eventDevice(ctx, event.deviceId),
  } satisfies DeviceStatusEventResolvers,
};
