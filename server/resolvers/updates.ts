/** Signed images, signing keys, OS feeds, deployments and their live progress. The payload upload is http/image-upload-route.ts. */
import type { RolloutPolicy } from '../../domain/deployments/rollout.js';
import { isDomainError } from '../../domain/shared/errors.js';
import type { DeviceUpdateView, ImageView } from '../../domain/views.js';
import type {
  DeploymentDeviceResolvers,
  DeploymentResolvers,
  DeviceResolvers,
  ImageResolvers,
  IssuedSigningKeyResolvers,
  MutationResolvers,
  OsFeedReleaseResolvers,
  QueryResolvers,
  RolloutPolicyInput,
  SigningKeyResolvers,
  SubscriptionResolvers,
} from '../generated/graphql.js';
import type { GatewayContext } from '../context.js';
import { eventDevice, tenantEventStream } from '../subscriptions/tenant-stream.js';
import { loadDeviceGroup } from './products.js';

/** targetImages and updateState of one device share one domain call per request. */
const loadDeviceUpdate = ({ cache, services, actor }: GatewayContext, deviceId: string): Promise<DeviceUpdateView> =>
  cache.memo(`deviceUpdate:${deviceId}`, () => services.deployments.deviceUpdate(actor, deviceId));

export const uploadPathOf = (imageId: string): string => `/images/${imageId}/payload`;

function toPolicy(input: RolloutPolicyInput | null | undefined): RolloutPolicy | null {
  if (!input) return null;
  return {
    waves: input.waves.map((w) => ({ percent: w.percent ?? null, count: w.count ?? null })),
    maxDevicesPerMinute: input.maxDevicesPerMinute ?? null,
    minSample: input.minSample ?? 1,
    maxFailurePercent: input.maxFailurePercent ?? null,
    maxCrashReports: input.maxCrashReports ?? null,
  };
}

/** An image the caller may no longer see (never: images are not deleted) reads as null in a list. */
const imageOrNull = (ctx: GatewayContext, id: string): Promise<ImageView | null> =>
  ctx.services.images.getImage(ctx.actor, id).catch((e: unknown) => {
    if (isDomainError(e) && e.code === 'NOT_FOUND') return null;
    throw e;
  });

export const updatesResolvers = {
  Query: {
    images: (_root, { componentId, type }, { services, actor }) =>
      services.images.listImages(actor, { componentId: componentId ?? null, type: type ?? null }).then((rows) => [...rows]),
    image: (_root, { id }, { services, actor }) => services.images.getImage(actor, id),
    signingKeys: (_root, _args, { services, actor }) => services.images.listSigningKeys(actor).then((rows) => [...rows]),
    osFeedReleases: (_root, { feed }, { services, actor }) => services.images.listOsFeedReleases(actor, feed ?? null).then((rows) => [...rows]),
    deployments: (_root, { deviceGroupId }, { services, actor }) => services.deployments.listDeployments(actor, deviceGroupId).then((rows) => [...rows]),
    deployment: (_root, { id }, { services, actor }) => services.deployments.getDeployment(actor, id),
  } satisfies QueryResolvers,
  Mutation: {
    createImage: (_root, { input }, { services, actor }) => services.images.createImage(actor, input),
    registerSigningKey: (_root, { name, publicKey }, { services, actor }) => services.images.registerSigningKey(actor, { name, publicKeyPem: publicKey }),
    createSigningKey: (_root, { name }, { services, actor }) => services.images.createSigningKey(actor, { name }),
    publishOsRelease: (_root, { imageId, feed }, { services, actor }) => services.images.publishOsRelease(actor, imageId, feed),
    createDeployment: (_root, { deviceGroupId, imageIds, rollout }, { services, actor }) =>
      services.deployments.createDeployment(actor, { deviceGroupId, imageIds, rollout: toPolicy(rollout) }),
    haltDeployment: (_root, { id, reason }, { services, actor }) => services.deployments.haltDeployment(actor, id, reason ?? null),
    resumeDeployment: (_root, { id }, { services, actor }) => services.deployments.resumeDeployment(actor, id),
    cancelDeployment: (_root, { id }, { services, actor }) => services.deployments.cancelDeployment(actor, id),
  } satisfies MutationResolvers,
  Subscription: {
    deploymentProgress: {
      subscribe: async (_root, { deploymentId }, ctx) => {
        // The deployment must be the caller's: another tenant's is NOT_FOUND, before any event flows.
        const deployment = await ctx.services.deployments.getDeployment(ctx.actor, deploymentId);
        return tenantEventStream(ctx, (tenantId) => (event) =>
          event.type === 'DeploymentProgressChanged' && event.tenantId === tenantId && event.deploymentId === deployment.id ? { deploymentProgress: event } : null,
        );
      },
    },
  } satisfies SubscriptionResolvers,
  SigningKey: {
    publicKey: (key) => key.publicKeyPem,
  } satisfies SigningKeyResolvers,
  IssuedSigningKey: {
    privateKey: (issued) => issued.privateKeyPem,
  } satisfies IssuedSigningKeyResolvers,
  Image: {
    uploadPath: (image) => (image.status === 'READY' ? null : uploadPathOf(image.id)),
  } satisfies ImageResolvers,
  OsFeedRelease: {
    image: (release, _args, ctx) => imageOrNull(ctx, release.imageId),
  } satisfies OsFeedReleaseResolvers,
  Deployment: {
    deviceGroup: (d, _args, ctx) => loadDeviceGroup(ctx, d.deviceGroupId),
    images: async (d, _args, ctx) => (await Promise.all(d.imageIds.map((id) => imageOrNull(ctx, id)))).filter((i): i is ImageView => i !== null),
    rollout: (d) =>
      d.rollout
        ? {
            policy: { ...d.rollout, waves: d.rollout.waves.map((w) => ({ percent: w.percent ?? null, count: w.count ?? null })) },
            wave: d.wave,
            halted: d.state === 'HALTED',
            reason: d.state === 'HALTED' ? d.reason : null,
          }
        : null,
    devices: (d, { state, first, after }, { services, actor }) =>
      services.deployments.deploymentDevices(actor, d.id, state ?? null, { first: first ?? null, after: after ?? null }).then((page) => ({
        totalCount: page.totalCount,
        edges: page.items.map((node, i) => ({ node, cursor: page.itemCursors?.[i] ?? '' })),
        pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
      })),
  } satisfies DeploymentResolvers,
  DeploymentDevice: {
    device: (row, _args, ctx) => eventDevice(ctx, row.deviceId),
  } satisfies DeploymentDeviceResolvers,
  Device: {
    installedImages: (device) => [...device.status.installedImages],
    targetImages: (device, _args, ctx) => loadDeviceUpdate(ctx, device.id).then((u) => [...u.targetImages]),
    updateState: (device, _args, ctx) => loadDeviceUpdate(ctx, device.id).then((u) => u.updateState),
  } satisfies DeviceResolvers,
};
