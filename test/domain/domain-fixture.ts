/**
 * Domain services over a real database with fake ports (clock, PKI) and a real in-memory bus whose events are
 * recorded. One fixture per database kind per test file; tests make their own tenants, so they do not interfere.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileImageStorage } from '../../infra/storage/file-image-storage.js';
import { createServices } from '../../domain/create-services.js';
import type { DomainEvent } from '../../domain/events/events.js';
import type { Services } from '../../domain/services.js';
import type { Actor, Role } from '../../domain/shared/actor.js';
import { silentLogger } from '../../domain/shared/logger.js';
import { DEFAULT_CERTIFICATE_POLICY, DEFAULT_ERROR_REPORT_POLICY, type CertificatePolicy, type ErrorReportPolicy } from '../../domain/shared/service-deps.js';
import { MemoryEventBus } from '../../infra/events/memory-event-bus.js';
import { openTestDatabase, type TestDatabase, type TestDatabaseKind } from '../db.js';
import { FakeClock } from '../fakes/fake-clock.js';
import { FakePki, fakeCsr, randomDeviceId } from '../fakes/fake-pki.js';

export const PLATFORM_KEY = `sga_${randomBytes(32).toString('base64url')}`;
export const PLATFORM: Actor = { kind: 'platform' };

export interface DomainFixture {
  readonly db: TestDatabase;
  readonly services: Services;
  readonly clock: FakeClock;
  readonly pki: FakePki;
  readonly bus: MemoryEventBus;
  /** Every event published since the fixture was made (tests filter by their own device IDs). */
  readonly events: DomainEvent[];
  /** Where image payloads are stored (a real FileImageStorage). */
  readonly imageDir: string;
  dispose(): Promise<void>;
}

export async function openDomainFixture(
  kind: TestDatabaseKind,
  certificates: Partial<CertificatePolicy> = {},
  errorReports: Partial<ErrorReportPolicy> = {},
): Promise<DomainFixture> {
  const db = await openTestDatabase(kind);
  const imageDir = await mkdtemp(join(tmpdir(), 'sg-images-'));
  const imageStorage = await FileImageStorage.open(imageDir);
  const clock = new FakeClock();
  const pki = new FakePki(() => clock.now());
  const bus = new MemoryEventBus();
  const events: DomainEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const services = createServices({
    em: db.orm.em,
    bus,
    clock,
    pki,
    log: silentLogger,
    platformAdminKey: PLATFORM_KEY,
    certificates: { ...DEFAULT_CERTIFICATE_POLICY, ...certificates },
    errorReports: { ...DEFAULT_ERROR_REPORT_POLICY, ...errorReports },
    imageStorage,
    maxImageBytes: 1024 * 1024,
  });
  return {
    db,
    services,
    clock,
    pki,
    bus,
    events,
    imageDir,
    dispose: async () => {
      await bus.close();
      await db.dispose();
      await rm(imageDir, { recursive: true, force: true });
    },
  };
}

export const uniqueName = (prefix: string): string => `${prefix} ${randomBytes(4).toString('hex')}`;

export interface TestTenant {
  readonly tenantId: string;
  readonly adminSecret: string;
  readonly admin: Actor;
  /** A fresh key of the role, authenticated the way the edge does it. */
  actorWithRole(role: Role): Promise<Actor>;
}

export async function newTenant(services: Services, name = uniqueName('Tenant')): Promise<TestTenant> {
  const { tenant, adminKey } = await services.tenancy.createTenant(PLATFORM, { name });
  const admin = await services.tenancy.authenticate(adminKey.secret);
  if (!admin) throw new Error('the first admin key did not authenticate');
  return {
    tenantId: tenant.id,
    adminSecret: adminKey.secret,
    admin,
    async actorWithRole(role: Role) {
      const issued = await services.tenancy.createApiKey(admin, { name: `${role} key`, role });
      const actor = await services.tenancy.authenticate(issued.secret);
      if (!actor) throw new Error(`the new ${role} key did not authenticate`);
      return actor;
    },
  };
}

/** Registers `count` devices through manufacturing and returns their IDs (sorted, as listings order them). */
export async function manufacture(services: Services, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, randomDeviceId);
  const results = await services.devices.manufactureDevices(PLATFORM, ids.map(fakeCsr));
  if (!results.every((r) => r.ok)) throw new Error(`manufacturing failed: ${JSON.stringify(results)}`);
  return ids.sort();
}

/** Runs an async call and returns the DomainError code it threw (fails the test if it did not throw). */
export async function errorCodeOf(call: Promise<unknown>): Promise<string> {
  return (await refusalOf(call)).code;
}

/** Like errorCodeOf, with the message too: for refusals that must name the field and the rule. */
export async function refusalOf(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await call;
  } catch (e) {
    if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return { code: e.code, message: e instanceof Error ? e.message : '' };
    throw e;
  }
  throw new Error('expected the call to throw');
}
