/** Every persisted entity, for the ORM configuration (infra/db) and the schema-diff test. */
import { AttestationNonce } from './certificates/attestation-nonce.entity.js';
import { DeviceCertificate } from './certificates/device-certificate.entity.js';
import { AllowedImage, OsRelease } from './certificates/measurement.entities.js';
import { TenantCa } from './certificates/tenant-ca.entity.js';
import { Device } from './devices/device.entity.js';
import { ErrorIssue, ErrorIssueDevice, ErrorReport, ErrorReportDrop } from './error-reports/error-report.entities.js';
import { JobLease } from './shared/job-lease.entity.js';
import { Image, OsFeedRelease, SigningKey } from './images/image.entities.js';
import { Deployment, DeploymentDevice } from './deployments/deployment.entities.js';
import { DeviceGroup } from './products/device-group.entity.js';
import { Product } from './products/product.entity.js';
import { ApiKey } from './tenancy/api-key.entity.js';
import { Tenant } from './tenancy/tenant.entity.js';

export {
  AllowedImage,
  ApiKey,
  AttestationNonce,
  Device,
  Deployment,
  DeploymentDevice,
  DeviceCertificate,
  DeviceGroup,
  ErrorIssue,
  ErrorIssueDevice,
  ErrorReport,
  ErrorReportDrop,
  Image,
  JobLease,
  OsFeedRelease,
  SigningKey,
  OsRelease,
  Product,
  Tenant,
  TenantCa,
};

export const ENTITIES = [Tenant, ApiKey, Product, DeviceGroup, Device, TenantCa, DeviceCertificate, AttestationNonce, OsRelease, AllowedImage, ErrorIssue, ErrorIssueDevice, ErrorReport, ErrorReportDrop, JobLease, SigningKey, Image, OsFeedRelease, Deployment, DeploymentDevice] as const;
