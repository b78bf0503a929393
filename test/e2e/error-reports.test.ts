/**
 * Error reports end to end: real devices (the agent) over mutual TLS, the real broker storing before PUBACK, a
 * real database, GraphQL, graphql-ws and the CSV download.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../../contract/mqtt/codec.js';
import type { ErrorReply } from '../../contract/mqtt/messages.js';
import { upTopic } from '../../contract/mqtt/topics.js';
import { EmulatedDevice, type IdentityFile } from '../../device-agent/index.js';
import { FileErrorQueueStore, MemoryErrorQueueStore, type ErrorQueueStore } from '../../device-agent/error-queue.js';
import { TEST_DATABASES } from '../db.js';
import { errorCodes, gql, gqlOk, startTestService, subscribe, until, type TestService } from '../harness.js';
import { claim, createTenant, manufactureDevices, type Tenant } from './certificate-support.js';

const APP = { componentId: '11111111-2222-4333-8444-555555555555', imageId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', name: 'app', version: '1.0' };
const RATE_LIMIT = 30;

interface CsvTable {
  readonly header: string[];
  readonly rows: Array<Record<string, string>>;
}

/** A small RFC 4180 reader (quoted fields, doubled quotes, CRLF rows). */
function parseCsv(text: string): CsvTable {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field);
      records.push(record);
      field = '';
      record = [];
      i++;
    } else field += c;
  }
  const [header = [], ...rest] = records;
  return { header, rows: rest.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? '']))) };
}

describe.each(TEST_DATABASES)('error reports on %s', (kind) => {
  let svc: TestService;
  let tenant: Tenant;
  let groupId: string;
  let productId: string;
  const devices: EmulatedDevice[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    svc = await startTestService(kind, { env: { SPHEREGATE_ERROR_RATE_LIMIT: String(RATE_LIMIT) } });
    tenant = await createTenant(svc, `Errors ${kind}`);
    const { createProduct } = await gqlOk<{ createProduct: { id: string; deviceGroups: Array<{ id: string; name: string }> } }>(
      svc.graphqlUrl,
      tenant.key,
      `mutation { createProduct(input: { name: "Thermostat" }) { id deviceGroups { id name } } }`,
    );
    productId = createProduct.id;
    groupId = createProduct.deviceGroups.find((g) => g.name === 'Field Test')!.id;
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop()));
    await svc.dispose();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  /** Manufactured, claimed into the tenant's Field Test group, running APP. */
  async function claimedIdentities(count: number, into: Tenant = tenant, group: string | null = groupId): Promise<IdentityFile[]> {
    const identities = await manufactureDevices(svc, count);
    await claim(svc, into, identities);
    if (group) {
      await gqlOk(svc.graphqlUrl, into.key, `mutation($ids: [ID!]!, $g: ID!) { assignDevices(deviceIds: $ids, deviceGroupId: $g) { ok } }`, {
        ids: identities.map((i) => i.deviceId),
        g: group,
      });
    }
    return identities;
  }

  function device(identity: IdentityFile, store: ErrorQueueStore = new MemoryErrorQueueStore(), capacity?: number): EmulatedDevice {
    const d = new EmulatedDevice({
      identity,
      brokerUrl: svc.mqttUrl,
      installedImages: [APP],
      backoff: { baseMs: 100, capMs: 500 },
      errorReports: { store, ...(capacity ? { capacity } : {}) },
    });
    devices.push(d);
    return d;
  }

  async function online(d: EmulatedDevice): Promise<EmulatedDevice> {
    const up = new Promise<void>((resolve) => d.once('online', () => resolve()));
    d.start();
    await up;
    return d;
  }

  /** A claimed device online for raw error-report publishes: the replies it gets, its topic, an event factory. */
  async function publishingRaw() {
    const [identity] = await claimedIdentities(1);
    const d = await online(device(identity!));
    const replies: ErrorReply[] = [];
    d.on('error-reply', (r) => replies.push(r));
    const now = new Date().toISOString();
    const event = (over: Record<string, unknown> = {}) => ({ eventId: randomUUID(), category: 'OSCrash', count: 1, startTime: now, endTime: now, ...over });
    return { d, replies, topic: upTopic(d.deviceId, 'error-reports'), event };
  }

  const drained = (d: EmulatedDevice) => until(async () => (await d.pendingErrorReports()).events.length === 0, 15_000, 'the error queue to drain');

  const reportCount = async (deviceId: string, key = tenant.key): Promise<number> =>
    (await gqlOk<{ errorReports: { totalCount: number } }>(svc.graphqlUrl, key, `query($d: ID!) { errorReports(filter: { deviceId: $d }) { totalCount } }`, { d: deviceId }))
      .errorReports.totalCount;

  const csv = async (query: string, key: string | null = tenant.key): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${svc.graphqlUrl.replace(/\/graphql$/, '')}/error-reports.csv${query}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    return { status: res.status, text: await res.text() };
  };

  test('20 devices report known crashes and exits: summaries, issues, the live stream and the CSV all agree exactly', async () => {
    const reported = subscribe<{ errorReported: { eventId: string; category: string; deviceId: string } }>(
      svc.wsUrl,
      tenant.key,
      `subscription($g: ID!) { errorReported(filter: { deviceGroupId: $g }) { eventId category deviceId } }`,
      { g: groupId },
    );
    const opened = subscribe<{ issueOpened: { category: string; exitCode: number | null } }>(
      svc.wsUrl,
      tenant.key,
      `subscription { issueOpened(filter: { componentId: "${APP.componentId}" }) { category exitCode } }`,
    );
    await Promise.all([reported.ready, opened.ready]);

    const identities = await claimedIdentities(20);
    const fleet = await Promise.all(identities.map((i) => online(device(i))));
    // Even devices crash twice (SIGSEGV); every fourth (1, 5, 9…) exits with code 3; every device reboots once.
    for (const [i, d] of fleet.entries()) {
      if (i % 2 === 0) {
        await d.recordEvent({ category: 'AppCrash', componentId: APP.componentId, imageId: APP.imageId, signal: 11 });
        await d.recordEvent({ category: 'AppCrash', componentId: APP.componentId, imageId: APP.imageId, signal: 11 });
      }
      if (i % 4 === 1) await d.recordEvent({ category: 'AppExit', componentId: APP.componentId, imageId: APP.imageId, exitCode: 3 });
      await d.recordEvent({ category: 'Reboot' });
    }
    await Promise.all(fleet.map(drained));
    const expectedTotal = 10 * 2 + 5 + 20;

    const { errorSummary } = await gqlOk<{ errorSummary: { rows: Array<{ key: string; eventCount: number; reportCount: number; deviceCount: number }> } }>(
      svc.graphqlUrl,
      tenant.key,
      `query($g: ID!) { errorSummary(filter: { deviceGroupId: $g }, groupBy: CATEGORY) { rows { key eventCount reportCount deviceCount } } }`,
      { g: groupId },
    );
    expect(errorSummary.rows).toEqual([
      { key: 'AppCrash', eventCount: 20, reportCount: 20, deviceCount: 10 },
      { key: 'Reboot', eventCount: 20, reportCount: 20, deviceCount: 20 },
      { key: 'AppExit', eventCount: 5, reportCount: 5, deviceCount: 5 },
    ]);
    const { issues } = await gqlOk<{ issues: { totalCount: number; edges: Array<{ node: { category: string; signal: number | null; exitCode: number | null; eventCount: number; deviceCount: number } }> } }>(
      svc.graphqlUrl,
      tenant.key,
      `{ issues(sort: DEVICE_COUNT) { totalCount edges { node { category signal exitCode eventCount deviceCount } } } }`,
    );
    expect(issues.edges.map((e) => e.node)).toEqual([
      { category: 'AppCrash', signal: 11, exitCode: null, eventCount: 20, deviceCount: 10 },
      { category: 'AppExit', signal: null, exitCode: 3, eventCount: 5, deviceCount: 5 },
    ]);

    await reported.waitFor((items) => items.length >= expectedTotal);
    await opened.waitFor((items) => items.length >= 2);
    expect(new Set(reported.items.map((i) => i.errorReported.eventId)).size).toBe(expectedTotal);
    expect(opened.items.map((i) => i.issueOpened.category).sort()).toEqual(['AppCrash', 'AppExit']);
    await Promise.all([reported.close(), opened.close()]);

    // The CSV holds exactly what the query returns, in the same order.
    type Row = { eventId: string; deviceId: string; category: string; eventType: string; eventClass: string; count: number; description: string; startTime: string };
    const all: Row[] = [];
    let after: string | null = null;
    for (;;) {
      const page: { errorReports: { edges: Array<{ node: Row }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } = await gqlOk(
        svc.graphqlUrl,
        tenant.key,
        `query($g: ID!, $after: String) { errorReports(filter: { deviceGroupId: $g }, first: 7, after: $after) {
          edges { node { eventId deviceId category eventType eventClass count description startTime } } pageInfo { hasNextPage endCursor } } }`,
        { g: groupId, after },
      );
      all.push(...page.errorReports.edges.map((e) => e.node));
      if (!page.errorReports.pageInfo.hasNextPage) break;
      after = page.errorReports.pageInfo.endCursor;
    }
    expect(all).toHaveLength(expectedTotal);
    const download = await csv(`?deviceGroupId=${groupId}`);
    expect(download.status).toBe(200);
    const table = parseCsv(download.text);
    expect(table.header.slice(0, 8)).toEqual(['DeviceId', 'EventType', 'EventClass', 'EventCategory', 'EventCount', 'Description', 'StartTime', 'EndTime']);
    expect(
      table.rows.map((r) => ({
        eventId: r['EventId'],
        deviceId: r['DeviceId'],
        category: r['EventCategory'],
        eventType: r['EventType'],
        eventClass: r['EventClass'],
        count: Number(r['EventCount']),
        description: r['Description'],
        startTime: r['StartTime'],
      })),
    ).toEqual(all);
    expect(table.rows.every((r) => r['ProductId'] === productId && r['DeviceGroupId'] === groupId)).toBe(true);
  });

  test('a device offline records events, restarts, reconnects: every event arrives once, also when a PUBACK was lost', async () => {
    const [identity] = await claimedIdentities(1);
    const dir = await mkdtemp(join(tmpdir(), 'sg-errors-'));
    dirs.push(dir);
    const file = join(dir, 'device.errors.json');
    const first = device(identity!, new FileErrorQueueStore(file));
    // Never connected: the events wait in the queue file.
    const recorded = [];
    for (let i = 0; i < 3; i++) recorded.push(await first.recordEvent({ category: 'AppCrash', componentId: APP.componentId, imageId: APP.imageId, signal: 6 }));
    const beforeSending = await readFile(file, 'utf8');

    // The device restarts (a new process on the same storage) and connects: the queue is sent.
    const second = await online(device(identity!, new FileErrorQueueStore(file)));
    await drained(second);
    expect(await reportCount(identity!.deviceId)).toBe(3);
    await second.stop();

    // The broker stored the batch but the PUBACK never reached the device (it crashed first): its storage still
    // holds the events, and it sends them again after rebooting. Nothing is counted twice.
    await writeFile(file, beforeSending);
    const third = await online(device(identity!, new FileErrorQueueStore(file)));
    await drained(third);
    expect(await reportCount(identity!.deviceId)).toBe(3);
    const { errorReports } = await gqlOk<{ errorReports: { edges: Array<{ node: { eventId: string } }> } }>(
      svc.graphqlUrl,
      tenant.key,
      `query($d: ID!) { errorReports(filter: { deviceId: $d }) { edges { node { eventId } } } }`,
      { d: identity!.deviceId },
    );
    expect(errorReports.edges.map((e) => e.node.eventId).sort()).toEqual(recorded.map((e) => e.eventId).sort());
    const { issues } = await gqlOk<{ issues: { edges: Array<{ node: { eventCount: number; deviceCount: number } }> } }>(
      svc.graphqlUrl,
      tenant.key,
      `{ issues(filter: { category: AppCrash }) { edges { node { signal eventCount deviceCount } } } }`,
    );
    expect(issues.edges.map((e) => e.node)).toContainEqual({ signal: 6, eventCount: 3, deviceCount: 1 });
  });

  test('the rate limit stores up to the limit and counts the excess; a full device queue drops the oldest and reports the drop', async () => {
    const [busy, small] = await claimedIdentities(2);
    const chatty = await online(device(busy!));
    for (let i = 0; i < RATE_LIMIT + 12; i++) await chatty.recordEvent({ category: 'OSCrash' });
    await drained(chatty);
    expect(await reportCount(busy!.deviceId)).toBe(RATE_LIMIT);

    const bounded = device(small!, new MemoryErrorQueueStore(), 5);
    const dropped: number[] = [];
    bounded.on('error-events-dropped', (d) => dropped.push(d.droppedTotal));
    const recorded = [];
    for (let i = 0; i < 8; i++) recorded.push(await bounded.recordEvent({ category: 'OSCrash', description: `event ${i}` }));
    expect(dropped.at(-1)).toBe(3);
    await online(bounded);
    await drained(bounded);

    const summary = async (deviceId: string) =>
      (
        await gqlOk<{ errorSummary: { rateLimitedCount: number; droppedByDevicesCount: number; rows: Array<{ eventCount: number }> } }>(
          svc.graphqlUrl,
          tenant.key,
          `query($d: ID!) { errorSummary(filter: { deviceId: $d }) { rateLimitedCount droppedByDevicesCount rows { eventCount } } }`,
          { d: deviceId },
        )
      ).errorSummary;
    expect(await summary(busy!.deviceId)).toEqual({ rateLimitedCount: 12, droppedByDevicesCount: 0, rows: [{ eventCount: RATE_LIMIT }] });
    expect(await summary(small!.deviceId)).toEqual({ rateLimitedCount: 0, droppedByDevicesCount: 3, rows: [{ eventCount: 5 }] });
    // The newest five survived.
    const { errorReports } = await gqlOk<{ errorReports: { edges: Array<{ node: { eventId: string } }> } }>(
      svc.graphqlUrl,
      tenant.key,
      `query($d: ID!) { errorReports(filter: { deviceId: $d }) { edges { node { eventId } } } }`,
      { d: small!.deviceId },
    );
    expect(errorReports.edges.map((e) => e.node.eventId).sort()).toEqual(recorded.slice(3).map((e) => e.eventId).sort());
  });

  test('malformed, oversized, far-future and unknown-component reports are refused with a reply; the connection keeps serving', async () => {
    const { d, replies, topic, event } = await publishingRaw();

    await d.publishRaw(topic, '{"v":1,"events":[', 1);
    await d.publishRaw(topic, JSON.stringify({ v: 1, events: [event({ description: 'x'.repeat(200) })], padding: 'y'.repeat(40_000) }), 1);
    const future = new Date(Date.now() + 24 * 3_600_000).toISOString();
    await d.publishRaw(topic, encode('error-reports', { v: 1, events: [event({ startTime: future, endTime: future }) as never] }), 1);
    const unknownComponent = randomUUID();
    const stranger = event({ category: 'AppCrash', componentId: unknownComponent, imageId: APP.imageId });
    await d.publishRaw(topic, encode('error-reports', { v: 1, events: [stranger as never] }), 1);
    await until(() => replies.length >= 4, 10_000, 'four error replies');
    expect(replies.map((r) => r.code)).toEqual(['BAD_PAYLOAD', 'BAD_PAYLOAD', 'BAD_PAYLOAD', 'BAD_PAYLOAD']);
    expect(replies[0]!.message).toMatch(/not valid JSON/);
    expect(replies[1]!.message).toMatch(/at most 32768/);
    expect(replies[2]!.message).toMatch(/endTime is in the future/);
    expect(replies[3]!.message).toContain(`component ${unknownComponent} is not installed`);
    expect(replies.every((r) => r.topic === topic)).toBe(true);

    // Still connected, and a good batch is stored.
    expect(d.state).toBe('online');
    await d.recordEvent({ category: 'OSCrash' });
    await drained(d);
    expect(await reportCount(d.deviceId)).toBe(1);
  });

  test('an event that breaks the event schema is refused alone: the good ones are stored before the PUBACK, one reply names the bad ones', async () => {
    const { d, replies, topic, event } = await publishingRaw();
    const storedIds = async (): Promise<string[]> =>
      (
        await gqlOk<{ errorReports: { edges: Array<{ node: { eventId: string } }> } }>(
          svc.graphqlUrl,
          tenant.key,
          `query($d: ID!) { errorReports(filter: { deviceId: $d }) { edges { node { eventId } } } }`,
          { d: d.deviceId },
        )
      ).errorReports.edges.map((e) => e.node.eventId);

    const [good, tooLong, unknownCategory] = [event({ description: 'kernel panic' }), event({ description: 'x'.repeat(201) }), event({ category: 'Meltdown' })];
    await d.publishRaw(topic, JSON.stringify({ v: 1, events: [tooLong, good, unknownCategory], droppedTotal: 0 }), 1);
    expect(await storedIds()).toEqual([good.eventId]); // already at the PUBACK
    await until(() => replies.length >= 1, 10_000, 'the error reply');
    expect(replies.splice(0)).toEqual([
      {
        v: 1,
        code: 'BAD_PAYLOAD',
        message: `2 of 3 events refused: ${tooLong.eventId}: /description: Expected string length less or equal to 200; ${unknownCategory.eventId}: /category: Expected union value`,
        topic,
      },
    ]);

    // Every event bad, or the batch itself: refused as a whole, as before; nothing more is stored.
    const allBad = event({ count: 0 });
    await d.publishRaw(topic, JSON.stringify({ v: 1, events: [allBad] }), 1);
    await d.publishRaw(topic, JSON.stringify({ v: 1, events: Array.from({ length: 101 }, () => event()) }), 1);
    await d.publishRaw(topic, JSON.stringify({ v: 1, events: [event(), 'crash'] }), 1);
    await until(() => replies.length >= 3, 10_000, 'three error replies');
    expect(replies.map((r) => [r.code, r.message])).toEqual([
      ['BAD_PAYLOAD', `1 of 1 events refused: ${allBad.eventId}: /count: Expected integer to be greater or equal to 1`],
      ['BAD_PAYLOAD', '/events: Expected array length to be less or equal to 100'],
      ['BAD_PAYLOAD', '/events/1: Expected object'],
    ]);
    expect(await storedIds()).toEqual([good.eventId]);
    expect(d.state).toBe('online');
  });

  test('tenants never see each other: reads, issues, the CSV and subscriptions of a stranger are empty or refused', async () => {
    const stranger = await createTenant(svc, `Stranger ${kind}`);
    const strangerSees = subscribe<{ errorReported: { eventId: string } }>(svc.wsUrl, stranger.key, `subscription { errorReported { eventId } }`);
    const ownerSees = subscribe<{ errorReported: { eventId: string; deviceId: string } }>(svc.wsUrl, tenant.key, `subscription { errorReported { eventId deviceId } }`);
    await Promise.all([strangerSees.ready, ownerSees.ready]);

    const [identity] = await claimedIdentities(1);
    const d = await online(device(identity!));
    await d.recordEvent({ category: 'AppCrash', componentId: APP.componentId, imageId: APP.imageId, signal: 4 });
    await drained(d);
    await ownerSees.waitFor((items) => items.some((i) => i.errorReported.deviceId === d.deviceId));

    expect(await reportCount(d.deviceId, stranger.key)).toBe(0);
    const { issues } = await gqlOk<{ issues: { totalCount: number } }>(svc.graphqlUrl, stranger.key, `{ issues { totalCount } }`);
    expect(issues.totalCount).toBe(0);
    const ownIssue = (await gqlOk<{ issues: { edges: Array<{ node: { id: string } }> } }>(svc.graphqlUrl, tenant.key, `{ issues(filter: { category: AppCrash }) { edges { node { id } } } }`)).issues
      .edges[0]!.node.id;
    expect(errorCodes(await gql(svc.graphqlUrl, stranger.key, `query($id: ID!) { issue(id: $id) { id } }`, { id: ownIssue }))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await gql(svc.graphqlUrl, null, `{ errorReports { totalCount } }`))).toEqual(['UNAUTHENTICATED']);

    const strangerCsv = await csv(`?deviceId=${d.deviceId}`, stranger.key);
    expect(strangerCsv.status).toBe(200);
    expect(parseCsv(strangerCsv.text).rows).toEqual([]);
    expect((await csv('', null)).status).toBe(401);
    expect((await csv('', 'sgk_not-a-key')).status).toBe(401);
    expect((await csv('', svc.running.adminKey)).status).toBe(403);
    expect((await csv('?deviceId=nope')).status).toBe(400);
    expect((await csv('?colour=red')).status).toBe(400);

    expect(strangerSees.items).toEqual([]);
    expect(strangerSees.error()).toBeNull();
    await Promise.all([strangerSees.close(), ownerSees.close()]);
  });
});
