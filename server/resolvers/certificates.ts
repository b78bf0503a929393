/** Certificate brokering: revocation, the tenant CA lifecycle, allowed measurements, and live certificate events. */
import type { CertificateEventResolvers, MutationResolvers, QueryResolvers, SubscriptionResolvers, TenantCaCertificateResolvers } from '../generated/graphql.js';
import { certificateEventMatcher } from '../subscriptions/certificate-event-filter.js';
import { eventDevice, tenantEventStream } from '../subscriptions/tenant-stream.js';

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
      subscribe: (_root, { filter }, ctx) =>
        tenantEventStream(ctx, (tenantId) => {
          const matches = certificateEventMatcher(tenantId, filter);
          return (event) => (matches(event) ? { certificateEvents: event } : null);
        }),
    },
  } satisfies SubscriptionResolvers,
  TenantCaCertificate: {
    certificate: (ca) => ca.certificatePem,
  } satisfies TenantCaCertificateResolvers,
  CertificateEvent: {
    device: (event, _args, ctx) => eventDevice(ctx, event.deviceId),
  } satisfies CertificateEventResolvers,
};
