/** Certificate brokering: revocation, the tenant CA lifecycle, allowed measurements, and live certificate events. */
import { authorizeTenant } from '../../domain/shared/authorize.js';
import { isDomainError, unauthenticated } from '../../domain/shared/errors.js';
import type { CertificateEventResolvers, MutationResolvers, QueryResolvers, SubscriptionResolvers, TenantCaCertificateResolvers } from '../generated/graphql.js';
import { BusStream } from '../subscriptions/bus-stream.js';
import { certificateEventMatcher } from '../subscriptions/certificate-event-filter.js';

export const certificatesResolvers = {
  Query: {
    tenantCaCertificates: (_root, _args, { services, actor }) => services.certificates.listTenantCas(actor).then((cas) => [...cas]),
    caCertificateChain: (_root, _args, { services, actor }) => services.certificates.caCertificateChain(actor),
    allowedImages: (_root, _args, { services, actor }) => services.certificates.listAllowedImages(actor).then((rows) => [...rows]),
    osReleases: (_root, _args, { services, actor }) => services.certificates.listOsReleases(actor).then((rows) => [...rows]),
  } satisfies QueryResolvers,
  Mutation: {
    revokeDevice: (_root, { deviceId, reason }, { services, actor }) => services.certificates.revokeDevice(actor, deviceId, reason),
    restoreDevice: (_root, { deviceId }, { services, actor }) => services.certificates.restoreDevice(actor, deviceId),
    rotateTenantCa: (_root, _args, { services, actor }) => services.certificates.rotateTenantCa(actor),
    proofOfPossessionCertificate: (_root, { verificationCode }, { services, actor }) =>
      services.certificates.proofOfPossessionCertificate(actor, verificationCode),
    allowImage: (_root, { input }, { services, actor }) => services.certificates.allowImage(actor, input),
    registerOsRelease: (_root, { version }, { services, actor }) => services.certificates.registerOsRelease(actor, version),
  } satisfies MutationResolvers,
  Subscription: {
    certificateEvents: {
      subscribe: (_root, { filter }, { actor, bus, log, subscriptionBufferSize, credentialStillValid }) => {
        const { tenantId } = authorizeTenant(actor, 'tenant.read');
        const matches = certificateEventMatcher(tenantId, filter);
        return new BusStream(bus, {
          select: (event) => (matches(event) ? { certificateEvents: event } : null),
          capacity: subscriptionBufferSize,
          log,
          beforeDeliver: async () => {
            if (!(await credentialStillValid())) throw unauthenticated('The API key was revoked');
          },
        });
      },
    },
  } satisfies SubscriptionResolvers,
  TenantCaCertificate: {
    certificate: (ca) => ca.certificatePem,
  } satisfies TenantCaCertificateResolvers,
  CertificateEvent: {
    device: (event, _args, { services, actor }) =>
      services.devices.getDevice(actor, event.deviceId).catch((e: unknown) => {
        if (isDomainError(e) && e.code === 'NOT_FOUND') return null;
        throw e;
      }),
  } satisfies CertificateEventResolvers,
};
