/**
 * Builds the domain's services once, from their ports. Called by the composition root (app/) and by tests; there is
 * no global state, so two instances (say, two tenants' worth of tests) never share anything but the database.
 */
import { createAttestationService } from './certificates/attestation.service.js';
import { createCertificatesService } from './certificates/certificates.service.js';
import { createDevicesService } from './devices/devices.service.js';
import { createErrorReportsService } from './error-reports/error-reports.service.js';
import { createDeploymentsService } from './deployments/deployments.service.js';
import { createImagesService } from './images/images.service.js';
import { unavailableImageStorage } from './images/image-storage.port.js';
import { createPresenceService } from './devices/presence.service.js';
import { createProductsService } from './products/products.service.js';
import type { Services } from './services.js';
import type { ServiceDeps } from './shared/service-deps.js';
import { createTenancyService } from './tenancy/tenancy.service.js';

export type { ServiceDeps } from './shared/service-deps.js';

export function createServices(deps: ServiceDeps): Services {
  return {
    tenancy: createTenancyService(deps),
    products: createProductsService(deps),
    devices: createDevicesService(deps),
    presence: createPresenceService(deps),
    attestation: createAttestationService(deps),
    certificates: createCertificatesService(deps),
    errorReports: createErrorReportsService(deps),
    images: createImagesService(deps, deps.imageStorage ?? unavailableImageStorage, { maxImageBytes: deps.maxImageBytes ?? 64 * 1024 * 1024 }),
    deployments: createDeploymentsService(deps),
  };
}
