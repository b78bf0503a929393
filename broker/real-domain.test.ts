/**
 * The broker on the real domain (presence service over SQLite and PostgreSQL): the certificate thumbprint the
 * broker computes is the one the PKI recorded at manufacture, and what devices do over MQTT lands in the database
 * in the right order.
 */
import type { MqttClient } from 'mqtt';
import { upTopic } from '../contract/mqtt/topics.js';
import { createServices } from '../domain/create-services.js';
import type { DeviceStatusChanged, DomainEvent } from '../domain/events/events.js';
import type { DeviceIdentity, Pki } from '../domain/pki/pki.port.js';
import type { Actor } from '../domain/shared/actor.js';
import { systemClock } from '../domain/shared/clock.js';
import { silentLogger } from '../domain/shared/logger.js';
import { DEFAULT_CERTIFICATE_POLICY } from '../domain/shared/service-deps.js';
import type { Services } from '../domain/services.js';
import { MemoryEventBus } from '../infra/events/memory-event-bus.js';
import { certificateFacts } from '../infra/pki/x509.js';
import { openTestDatabase, TEST_DATABASES, type TestDatabase } from '../test/db.js';
import { FakePki, fakeCsr } from '../test/fakes/fake-pki.js';
import { makeDeviceIdentity, makeTestPki, type TestDeviceIdentity, type TestPki } from '../test/fixtures/pki.js';
import { startBroker, type Broker } from './index.js';
import { connectDevice, connectedDevice, endAll, eventually } from './test-support/device-client.js';

/** Manufactures the fixture identities: the domain records the real certificate's facts, as infra/pki would. */
class FixturePki extends FakePki implements Pki {
  constructor(private readonly identities: ReadonlyMap<string, TestDeviceIdentity>) {
    super();
  }
  override async issueIdentityCertificate(csrPem: string): Promise<DeviceIdentity> {
    const deviceId = /([0-9A-F]{128})/.exec(csrPem)?.[1] ?? '';
    const identity = this.identities.get(deviceId);
    if (!identity) throw new Error('unknown fixture device');
    return { deviceId, ...certificateFacts(identity.certificatePem) };
  }
}

describe.each(TEST_DATABASES)('broker on the domain over %s', (kind) => {
  let pki: TestPki;
  let db: TestDatabase;
  let bus: MemoryEventBus;
  let services: Services;
  let broker: Broker;
  let tenant: Actor;
  let device: TestDeviceIdentity;
  let unregistered: TestDeviceIdentity;
  const events: DeviceStatusChanged[] = [];
  const clients: MqttClient[] = [];

  const asDevice = (d: TestDeviceIdentity) => ({ port: broker.port, caPem: pki.root.certificatePem, clientId: d.deviceId, identity: d });
  const view = () => services.devices.getDevice(tenant, device.deviceId);

  beforeAll(async () => {
    pki = await makeTestPki();
    [device, unregistered] = await Promise.all([makeDeviceIdentity(pki.manufacturingCa), makeDeviceIdentity(pki.manufacturingCa)]);
    db = await openTestDatabase(kind);
    bus = new MemoryEventBus();
    bus.subscribe((e: DomainEvent) => {
      if (e.type === 'DeviceStatusChanged') events.push(e);
    });
    services = createServices({
      em: db.orm.em,
      bus,
      clock: systemClock,
      pki: new FixturePki(new Map([[device.deviceId, device]])),
      log: silentLogger,
      platformAdminKey: 'platform-admin-key-for-broker-tests',
      certificates: DEFAULT_CERTIFICATE_POLICY,
    });
    const [made] = await services.devices.manufactureDevices({ kind: 'platform' }, [fakeCsr(device.deviceId)]);
    expect(made).toMatchObject({ ok: true, deviceId: device.deviceId });
    const { adminKey } = await services.tenancy.createTenant({ kind: 'platform' }, { name: `broker-${kind}` });
    const actor = await services.tenancy.authenticate(adminKey.secret);
    if (!actor) throw new Error('admin key does not authenticate');
    tenant = actor;
    await services.devices.claimDevices(tenant, [device.deviceId]);
    broker = await startBroker({
      presence: services.presence,
      log: silentLogger,
      port: 0,
      host: '127.0.0.1',
      nodeId: `node-${kind}`,
      tls: { certificatePem: pki.server.chainPem, keyPem: pki.server.keyPem, trustAnchorsPem: [pki.manufacturingCa.certificatePem] },
    });
  });

  afterEach(async () => {
    await endAll(clients.splice(0));
    await eventually(() => broker.connectedDevices() === 0);
  });

  afterAll(async () => {
    await broker?.close();
    await bus?.close();
    await db?.dispose();
  });

  test('a manufactured device is admitted by its certificate and shown online, then offline', async () => {
    const client = await connectedDevice(asDevice(device));
    clients.push(client);
    await eventually(() => events.some((e) => e.deviceId === device.deviceId && e.online));
    expect((await view()).status).toMatchObject({ online: true, connectionSeq: 1, remoteAddress: expect.stringMatching(/127\.0\.0\.1/) });

    await client.endAsync();
    await eventually(() => events.some((e) => e.deviceId === device.deviceId && !e.online));
    expect((await view()).status).toMatchObject({ online: false, connectionSeq: 1 });
  });

  test('a status report is in the database when the PUBACK arrives', async () => {
    const client = await connectedDevice(asDevice(device));
    clients.push(client);
    await client.publishAsync(
      upTopic(device.deviceId, 'status'),
      JSON.stringify({ v: 1, osVersion: '25.01.0', uptimeSeconds: 7, installedImages: [] }),
      { qos: 1 },
    );
    expect((await view()).status).toMatchObject({ osVersion: '25.01.0', uptimeSeconds: 7, installedImages: [] });
  });

  test('a takeover by a new connection of the same device ends online with the newest sequence', async () => {
    const seqBefore = (await view()).status.connectionSeq;
    const first = await connectedDevice(asDevice(device));
    const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    const second = await connectedDevice(asDevice(device));
    clients.push(first, second);
    await firstClosed;
    await eventually(() => events.filter((e) => e.deviceId === device.deviceId && e.connectionSeq === seqBefore + 2 && e.online).length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect((await view()).status).toMatchObject({ online: true, connectionSeq: seqBefore + 2 });

    await broker.disconnect(device.deviceId);
    expect((await view()).status).toMatchObject({ online: false, connectionSeq: seqBefore + 2 });
  });

  test('a device the domain does not know gets CONNACK 5', async () => {
    expect(await connectDevice(asDevice(unregistered))).toEqual({ kind: 'refused', returnCode: 5 });
  });
});
