import { randomUUID } from 'node:crypto';
import type { ErrorReported, IssueOpened } from '../../domain/events/events.js';
import type { ErrorCategory } from '../../domain/error-reports/error-categories.js';
import { createErrorReportsService } from '../../domain/error-reports/error-reports.service.js';
import { silentLogger } from '../../domain/shared/logger.js';
import { DEFAULT_CERTIFICATE_POLICY } from '../../domain/shared/service-deps.js';
import type { ErrorEventInput } from '../../domain/views.js';
import { TEST_DATABASES } from '../db.js';
import { PLATFORM, PLATFORM_KEY, errorCodeOf, manufacture, newTenant, openDomainFixture, type DomainFixture, type TestTenant } from './domain-fixture.js';

const APP = { componentId: '11111111-2222-4333-8444-555555555555', imageId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' };
const OTHER_APP = { componentId: '21111111-2222-4333-8444-555555555555', imageId: 'baaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee' };
const HOUR = 3_600_000;
const LIMIT = 6;

describe.each(TEST_DATABASES)('error reports on %s', (kind) => {
  let fx: DomainFixture;
  beforeAll(async () => {
    fx = await openDomainFixture(kind, {}, { perDeviceHourlyLimit: LIMIT, retentionDays: 14, maxClockSkewSeconds: 300 });
  });
  afterAll(async () => {
    await fx.dispose();
  });

  /** `count` devices claimed by a fresh tenant into one group, each running APP and OTHER_APP. */
  async function fleet(count: number): Promise<{ t: TestTenant; ids: string[]; productId: string; groupId: string }> {
    const t = await newTenant(fx.services);
    const ids = await manufacture(fx.services, count);
    await fx.services.devices.claimDevices(t.admin, ids);
    const product = await fx.services.products.createProduct(t.admin, { name: 'Errors' });
    const [group] = await fx.services.products.listDeviceGroups(t.admin, { productId: product.id });
    await fx.services.devices.assignDevices(t.admin, ids, group!.id);
    for (const id of ids) {
      await fx.services.presence.reportStatus(id, {
        osVersion: '24.10',
        uptimeSeconds: 1,
        installedImages: [
          { ...APP, name: 'app', version: '1' },
          { ...OTHER_APP, name: 'other', version: '1' },
        ],
      });
    }
    return { t, ids, productId: product.id, groupId: group!.id };
  }

  function event(category: ErrorCategory, over: Partial<ErrorEventInput> = {}): ErrorEventInput {
    const end = new Date(fx.clock.now().getTime() - 60_000);
    const app = category.startsWith('App');
    return {
      eventId: randomUUID(),
      category,
      componentId: app ? APP.componentId : null,
      imageId: app ? APP.imageId : null,
      exitCode: category === 'AppExit' ? 1 : null,
      signal: category === 'AppCrash' ? 11 : null,
      description: null,
      count: 1,
      startTime: new Date(end.getTime() - 1000),
      endTime: end,
      ...over,
    };
  }

  const report = (deviceId: string, events: ErrorEventInput[], droppedTotal: number | null = null) =>
    fx.services.errorReports.report(deviceId, { events, droppedTotal });

  test('stores events once: a resent batch (a lost PUBACK) is recognised and counted nowhere twice', async () => {
    const { t, ids } = await fleet(1);
    const batch = [event('AppCrash'), event('AppExit'), event('Reboot')];
    expect(await report(ids[0]!, batch)).toEqual({ stored: 3, duplicates: 0, rateLimited: 0, refused: [] });
    expect(await report(ids[0]!, batch)).toEqual({ stored: 0, duplicates: 3, rateLimited: 0, refused: [] });

    const page = await fx.services.errorReports.listErrorReports(t.admin, {}, {});
    expect(page.totalCount).toBe(3);
    const crash = page.items.find((r) => r.category === 'AppCrash')!;
    expect(crash).toMatchObject({ eventType: 'Unplanned', eventClass: 'Application', description: 'signal_status=11', componentId: APP.componentId, deviceId: ids[0] });
    expect(page.items.find((r) => r.category === 'Reboot')).toMatchObject({ eventType: 'Planned', eventClass: 'OS', issueId: null });
    const issues = await fx.services.errorReports.listIssues(t.admin, {}, 'LAST_SEEN', {});
    expect(issues.items.map((i) => [i.category, i.eventCount, i.deviceCount]).sort()).toEqual([
      ['AppCrash', 1, 1],
      ['AppExit', 1, 1],
    ]);
    const announced = fx.events.filter((e): e is ErrorReported => e.type === 'ErrorReported' && e.deviceId === ids[0]);
    expect(announced).toHaveLength(3);
  });

  test('a stored report reads back exactly as it was announced, whatever its description holds', async () => {
    const { t, ids, productId, groupId } = await fleet(1);
    const description = `it's a "quoted" \\ back\\slash, ?? $1 -- and ünïcödé`;
    const crash = event('AppCrash', { description, exitCode: -7, signal: 11, count: 5 });
    expect((await report(ids[0]!, [crash])).stored).toBe(1);

    const [stored] = (await fx.services.errorReports.listErrorReports(t.admin, { deviceId: ids[0] }, {})).items;
    const [announced] = fx.events.filter((e): e is ErrorReported => e.type === 'ErrorReported' && e.deviceId === ids[0]);
    expect(stored).toEqual({
      ...announced!.report,
      tenantId: t.tenantId,
      startTime: new Date(announced!.report.startTime),
      endTime: new Date(announced!.report.endTime),
      receivedAt: new Date(announced!.report.receivedAt),
    });
    expect(stored).toMatchObject({
      eventId: crash.eventId,
      deviceId: ids[0],
      productId,
      deviceGroupId: groupId,
      category: 'AppCrash',
      count: 5,
      exitCode: -7,
      signal: 11,
      description: `exit_code=-7; signal_status=11; ${description}`,
      componentId: APP.componentId,
      imageId: APP.imageId,
      startTime: crash.startTime,
      endTime: crash.endTime,
      receivedAt: fx.clock.now(),
    });
    expect(stored!.issueId).not.toBeNull();
  });

  test('groups events by signature into issues with exact device and event counts, and announces each new issue once', async () => {
    const { t, ids } = await fleet(4);
    // Every device crashes with SIGSEGV (2 events of count 3 each on device 0); device 0 and 1 also exit with code 2.
    await report(ids[0]!, [event('AppCrash', { count: 3 }), event('AppCrash', { count: 3 }), event('AppExit', { exitCode: 2 })]);
    await report(ids[1]!, [event('AppCrash'), event('AppExit', { exitCode: 2 })]);
    await report(ids[2]!, [event('AppCrash')]);
    await report(ids[3]!, [event('AppCrash', { ...OTHER_APP }), event('OSCrash')]);

    const issues = await fx.services.errorReports.listIssues(t.admin, {}, 'DEVICE_COUNT', {});
    expect(issues.items.map((i) => ({ category: i.category, componentId: i.componentId, exitCode: i.exitCode, signal: i.signal, events: i.eventCount, devices: i.deviceCount }))).toEqual([
      { category: 'AppCrash', componentId: APP.componentId, exitCode: null, signal: 11, events: 8, devices: 3 },
      { category: 'AppExit', componentId: APP.componentId, exitCode: 2, signal: null, events: 2, devices: 2 },
      // Equal device counts: more events first, then most recently seen.
      expect.objectContaining({ devices: 1 }),
      expect.objectContaining({ devices: 1 }),
    ]);
    const opened = fx.events.filter((e): e is IssueOpened => e.type === 'IssueOpened' && e.tenantId === t.tenantId);
    expect(opened).toHaveLength(4);
    const filtered = await fx.services.errorReports.listIssues(t.admin, { componentId: OTHER_APP.componentId }, 'LAST_SEEN', {});
    expect(filtered.items.map((i) => i.componentId)).toEqual([OTHER_APP.componentId]);
  });

  test("an issue's first and last seen only ever widen, and its counters add up across flushes", async () => {
    const { t, ids } = await fleet(2);
    const now = fx.clock.now().getTime();
    const span = (from: number, to: number) => event('OSCrash', { startTime: new Date(now - from), endTime: new Date(now - to) });
    await report(ids[0]!, [span(50_000, 40_000)]);
    await report(ids[1]!, [span(90_000, 45_000)]); // earlier start: first seen widens
    await report(ids[0]!, [span(48_000, 10_000), span(60_000, 20_000)]); // later end: last seen widens
    await report(ids[1]!, [span(49_000, 41_000)]); // inside: nothing moves

    const [issue] = (await fx.services.errorReports.listIssues(t.admin, {}, 'LAST_SEEN', {})).items;
    expect(issue).toMatchObject({ eventCount: 5, deviceCount: 2, firstSeen: new Date(now - 90_000), lastSeen: new Date(now - 10_000) });
    expect(await fx.services.errorReports.getIssue(t.admin, issue!.id)).toEqual(issue);
  });

  test('refuses events that make no sense for the device, keeping the rest of the batch', async () => {
    const { t, ids } = await fleet(1);
    const now = fx.clock.now().getTime();
    const good = event('AppCrash');
    const future = event('AppCrash', { startTime: new Date(now + HOUR), endTime: new Date(now + HOUR) });
    const reversed = event('AppExit', { startTime: new Date(now - 1000), endTime: new Date(now - 5000) });
    const unknownComponent = event('AppCrash', { componentId: randomUUID() });
    const unknownImage = event('AppCrash', { imageId: randomUUID() });
    const tooOld = event('OSCrash', { startTime: new Date(now - 15 * 24 * HOUR), endTime: new Date(now - 15 * 24 * HOUR) });
    const missingImage = event('AppCrash', { componentId: null, imageId: null });
    const result = await report(ids[0]!, [good, future, reversed, unknownComponent, unknownImage, tooOld, missingImage]);
    expect(result.stored).toBe(1);
    expect(Object.fromEntries(result.refused.map((r) => [r.eventId, r.reason]))).toEqual({
      [future.eventId]: 'endTime is in the future',
      [reversed.eventId]: 'startTime is after endTime',
      [unknownComponent.eventId]: `component ${unknownComponent.componentId} is not installed on this device`,
      [unknownImage.eventId]: `image ${unknownImage.imageId} is not known for component ${APP.componentId}`,
      [tooOld.eventId]: 'older than the 14-day retention',
      [missingImage.eventId]: 'AppCrash needs componentId and imageId',
    });
    // An image the tenant allowed (say, the one before an update) is known.
    await fx.services.certificates.allowImage(t.admin, { componentId: APP.componentId, imageId: unknownImage.imageId!, sha256: 'ab'.repeat(32) });
    expect((await report(ids[0]!, [unknownImage])).stored).toBe(1);
  });

  test('values the MQTT contract rules out are refused per event here too, keeping the rest of the batch', async () => {
    const { ids } = await fleet(1);
    const good = event('OSCrash');
    const badId = event('OSCrash', { eventId: 'not-a-uuid' });
    const badCount = event('OSCrash', { count: 0 });
    const badTime = event('OSCrash', { endTime: new Date(Number.NaN) });
    const result = await report(ids[0]!, [good, badId, badCount, badTime]);
    expect(result.stored).toBe(1);
    expect(Object.fromEntries(result.refused.map((r) => [r.eventId, r.reason]))).toEqual({
      'not-a-uuid': 'eventId is not a UUID',
      [badCount.eventId]: 'count, exitCode and signal must be integers in range',
      [badTime.eventId]: 'startTime or endTime is not a date',
    });
  });

  test('a description with a NUL character (neither database stores one; the contract leaves this one field to the service) is refused per event, not failed as a whole', async () => {
    const { ids } = await fleet(2);
    const nul = event('AppCrash', { description: 'before\u0000after' });
    const result = await report(ids[0]!, [event('OSCrash'), nul]);
    expect(result).toEqual({ stored: 1, duplicates: 0, rateLimited: 0, refused: [{ eventId: nul.eventId, reason: 'description must not contain NUL characters' }] });
    // Another device's batch is stored alongside.
    expect((await report(ids[1]!, [event('AppCrash', { description: 'fine' })])).stored).toBe(1);
  });

  test('an unclaimed device is refused; an unknown one is NOT_FOUND', async () => {
    const [id] = await manufacture(fx.services, 1);
    expect(await errorCodeOf(report(id!, [event('OSCrash')]))).toBe('FORBIDDEN');
    expect(await errorCodeOf(report('F'.repeat(128), [event('OSCrash')]))).toBe('NOT_FOUND');
  });

  test('the hourly rate limit stores up to the limit and counts the excess in one row', async () => {
    const { t, ids } = await fleet(1);
    const first = await report(ids[0]!, Array.from({ length: 4 }, () => event('OSCrash')));
    const second = await report(ids[0]!, Array.from({ length: 5 }, () => event('OSCrash')));
    expect([first.stored, first.rateLimited, second.stored, second.rateLimited]).toEqual([4, 0, LIMIT - 4, 5 - (LIMIT - 4)]);
    const summary = await fx.services.errorReports.errorSummary(t.admin, {}, 'NONE', null);
    expect(summary.rows).toEqual([{ key: null, bucketStart: null, eventCount: LIMIT, reportCount: LIMIT, deviceCount: 1 }]);
    expect(summary.rateLimitedCount).toBe(5 - (LIMIT - 4));
  });

  test('the hourly limit counts what another node stored since, and lets events leave the hour, also between flushes a count is kept for', async () => {
    const { ids } = await fleet(2);
    const oscrashes = (n: number) => Array.from({ length: n }, () => event('OSCrash'));
    // Another node of the cluster: its own writer, the same database.
    const otherNode = createErrorReportsService({
      em: fx.db.orm.em,
      bus: fx.bus,
      clock: fx.clock,
      pki: fx.pki,
      log: silentLogger,
      platformAdminKey: PLATFORM_KEY,
      certificates: DEFAULT_CERTIFICATE_POLICY,
      errorReports: { perDeviceHourlyLimit: LIMIT, retentionDays: 14, maxClockSkewSeconds: 300 },
    });
    expect((await report(ids[0]!, oscrashes(2))).stored).toBe(2);
    fx.clock.advance(1000);
    expect((await otherNode.report(ids[0]!, { events: oscrashes(3), droppedTotal: null })).stored).toBe(3);
    fx.clock.advance(1000);
    const afterOther = await report(ids[0]!, oscrashes(3));
    expect([afterOther.stored, afterOther.rateLimited]).toEqual([LIMIT - 5, 3 - (LIMIT - 5)]);

    // Device 1: 2 events, then 1 more 58 minutes later; 3 minutes after that the first 2 have left the hour.
    expect((await report(ids[1]!, oscrashes(2))).stored).toBe(2);
    fx.clock.advance(58 * 60_000);
    expect((await report(ids[1]!, oscrashes(1))).stored).toBe(1);
    fx.clock.advance(3 * 60_000);
    const later = await report(ids[1]!, oscrashes(LIMIT));
    expect([later.stored, later.rateLimited]).toEqual([LIMIT - 1, 1]);
  });

  test("the device's own drop counter is a running total: a resent batch does not count a drop twice", async () => {
    const { t, ids } = await fleet(1);
    await report(ids[0]!, [event('OSCrash')], 4);
    await report(ids[0]!, [event('OSCrash')], 4);
    expect((await fx.services.errorReports.errorSummary(t.admin, {}, 'NONE', null)).droppedByDevicesCount).toBe(4);
    await report(ids[0]!, [event('OSCrash')], 7);
    expect((await fx.services.errorReports.errorSummary(t.admin, {}, 'NONE', null)).droppedByDevicesCount).toBe(7);
  });

  test('batches arriving together from several devices are stored once each; a duplicate across batches counts once', async () => {
    const { t, ids } = await fleet(3);
    const batches = ids.map(() => [event('AppCrash'), event('OSCrash'), event('Reboot')]);
    const extra = event('AppCrash');
    // All queued in one turn, so they are stored together: device 0's resend (a lost PUBACK) and a batch repeating
    // one of its events arrive behind the originals.
    const results = await Promise.all([
      ...ids.map((id, i) => report(id, batches[i]!)),
      report(ids[0]!, batches[0]!),
      report(ids[0]!, [batches[0]![0]!, extra]),
    ]);
    const fresh = { stored: 3, duplicates: 0, rateLimited: 0, refused: [] };
    expect(results).toEqual([fresh, fresh, fresh, { stored: 0, duplicates: 3, rateLimited: 0, refused: [] }, { stored: 1, duplicates: 1, rateLimited: 0, refused: [] }]);

    const page = await fx.services.errorReports.listErrorReports(t.admin, {}, { first: 50 });
    expect(page.totalCount).toBe(10);
    expect(new Set(page.items.map((r) => `${r.deviceId}/${r.eventId}`)).size).toBe(10);
    const issues = await fx.services.errorReports.listIssues(t.admin, {}, 'DEVICE_COUNT', {});
    expect(issues.items.map((i) => [i.category, i.eventCount, i.deviceCount])).toEqual([
      ['AppCrash', 4, 3],
      ['OSCrash', 3, 3],
    ]);
    const mine = fx.events.filter((e) => (e.type === 'ErrorReported' || e.type === 'IssueOpened') && e.tenantId === t.tenantId);
    expect(mine.filter((e) => e.type === 'ErrorReported')).toHaveLength(10);
    expect(mine.filter((e) => e.type === 'IssueOpened')).toHaveLength(2);
  });

  test('many devices at once (on PostgreSQL in concurrent flushes) open one issue per signature and count every event once', async () => {
    const { t, ids } = await fleet(16);
    const shared = { exitCode: 42 };
    const wave = () => Promise.all(ids.flatMap((id) => [report(id, [event('AppExit', shared), event('Reboot')]), report(id, [event('AppExit', shared)])]));
    // The first wave opens the issue from several flushes at once; the second only counts into it.
    for (const results of [await wave(), await wave()]) expect(results.every((r) => r.stored >= 1 && r.duplicates === 0)).toBe(true);

    const issues = await fx.services.errorReports.listIssues(t.admin, {}, 'DEVICE_COUNT', {});
    expect(issues.items.map((i) => [i.category, i.eventCount, i.deviceCount])).toEqual([['AppExit', 64, 16]]);
    expect((await fx.services.errorReports.listErrorReports(t.admin, {}, {})).totalCount).toBe(96);
    expect(fx.events.filter((e) => e.type === 'IssueOpened' && e.tenantId === t.tenantId)).toHaveLength(1);
  });

  test("the hourly limit and the device's drop counter hold across batches stored together", async () => {
    const { t, ids } = await fleet(1);
    const [a, b] = await Promise.all([
      report(ids[0]!, Array.from({ length: 4 }, () => event('OSCrash')), 3),
      report(ids[0]!, Array.from({ length: 4 }, () => event('OSCrash')), 5),
    ]);
    expect([a!.stored, a!.rateLimited, b!.stored, b!.rateLimited]).toEqual([4, 0, LIMIT - 4, 8 - LIMIT]);
    const summary = await fx.services.errorReports.errorSummary(t.admin, {}, 'NONE', null);
    expect(summary.rows.map((r) => r.eventCount)).toEqual([LIMIT]);
    expect([summary.rateLimitedCount, summary.droppedByDevicesCount]).toEqual([8 - LIMIT, 5]);
  });

  test("a batch refused as a whole (unknown or unclaimed device) costs the batches stored with it nothing", async () => {
    const { t, ids } = await fleet(1);
    const [unclaimed] = await manufacture(fx.services, 1);
    const [unknown, claimed, notClaimed] = await Promise.allSettled([
      report('F'.repeat(128), [event('OSCrash')]),
      report(ids[0]!, [event('OSCrash')]),
      report(unclaimed!, [event('OSCrash')]),
    ]);
    expect(unknown.status === 'rejected' && (unknown.reason as { code?: string }).code).toBe('NOT_FOUND');
    expect(notClaimed.status === 'rejected' && (notClaimed.reason as { code?: string }).code).toBe('FORBIDDEN');
    expect(claimed.status === 'fulfilled' && claimed.value.stored).toBe(1);
    expect((await fx.services.errorReports.listErrorReports(t.admin, {}, {})).totalCount).toBe(1);
  });

  test('a flush that fails stores and announces nothing of any batch in it; the batches sent again are stored once', async () => {
    const { t, ids } = await fleet(2);
    const batches = ids.map(() => [event('AppCrash'), event('OSCrash')]);
    const connection = fx.db.orm.em.fork().getConnection();
    // The last statement of the flush (the reports' insert) fails, after the drop counter and the issues were written.
    if (kind === 'sqlite') {
      await connection.execute("create trigger error_report_fails before insert on error_report begin select raise(abort, 'injected failure'); end");
    } else {
      await connection.execute("create function error_report_fails() returns trigger language plpgsql as $$ begin raise exception 'injected failure'; end $$");
      await connection.execute('create trigger error_report_fails before insert on error_report for each statement execute function error_report_fails()');
    }
    const eventsBefore = fx.events.length;
    const failed = await Promise.allSettled([report(ids[0]!, batches[0]!, 2), report(ids[1]!, batches[1]!)]);
    await connection.execute(kind === 'sqlite' ? 'drop trigger error_report_fails' : 'drop trigger error_report_fails on error_report');

    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(fx.events.slice(eventsBefore).filter((e) => e.type === 'ErrorReported' || e.type === 'IssueOpened')).toEqual([]);
    expect((await fx.services.errorReports.listErrorReports(t.admin, {}, {})).totalCount).toBe(0);
    expect((await fx.services.errorReports.listIssues(t.admin, {}, 'LAST_SEEN', {})).totalCount).toBe(0);
    expect((await fx.services.errorReports.errorSummary(t.admin, {}, 'NONE', null)).droppedByDevicesCount).toBe(0);

    // The devices send them again (no PUBACK came): stored once, counted once.
    const resent = await Promise.all([report(ids[0]!, batches[0]!, 2), report(ids[1]!, batches[1]!)]);
    expect(resent.map((r) => [r.stored, r.duplicates])).toEqual([
      [2, 0],
      [2, 0],
    ]);
    expect((await fx.services.errorReports.listErrorReports(t.admin, {}, {})).totalCount).toBe(4);
    expect((await fx.services.errorReports.errorSummary(t.admin, {}, 'NONE', null)).droppedByDevicesCount).toBe(2);
    const issues = await fx.services.errorReports.listIssues(t.admin, {}, 'DEVICE_COUNT', {});
    expect(issues.items.map((i) => [i.eventCount, i.deviceCount])).toEqual([
      [2, 2],
      [2, 2],
    ]);
  });

  test('a batch the database refuses fails alone: the batches stored with it are stored and answered', async () => {
    const { t, ids } = await fleet(3);
    const connection = fx.db.orm.em.fork().getConnection();
    // Only an event counted 77777 times is refused (a stand-in for any value the database would not take).
    if (kind === 'sqlite') {
      await connection.execute("create trigger error_report_refuses before insert on error_report when new.count = 77777 begin select raise(abort, 'injected failure'); end");
    } else {
      await connection.execute(
        "create function error_report_refuses() returns trigger language plpgsql as $$ begin if new.count = 77777 then raise exception 'injected failure'; end if; return new; end $$",
      );
      await connection.execute('create trigger error_report_refuses before insert on error_report for each row execute function error_report_refuses()');
    }
    const outcomes = await Promise.allSettled([
      report(ids[0]!, [event('OSCrash')]),
      report(ids[1]!, [event('OSCrash', { count: 77777 })]),
      report(ids[2]!, [event('OSCrash'), event('Reboot')]),
    ]);
    await connection.execute(kind === 'sqlite' ? 'drop trigger error_report_refuses' : 'drop trigger error_report_refuses on error_report');
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value.stored : 'rejected'))).toEqual([1, 'rejected', 2]);
    expect((await fx.services.errorReports.listErrorReports(t.admin, {}, {})).items.map((r) => r.deviceId).sort()).toEqual([ids[0], ids[2], ids[2]].sort());
    const [issue] = (await fx.services.errorReports.listIssues(t.admin, {}, 'LAST_SEEN', {})).items;
    expect([issue!.eventCount, issue!.deviceCount]).toEqual([2, 2]);
  });

  test('summaries group by category, component, device and time bucket with exact counts', async () => {
    const { t, ids, groupId } = await fleet(2);
    const dayStart = Math.floor((fx.clock.now().getTime() - 2 * 24 * HOUR) / (24 * HOUR)) * 24 * HOUR;
    const at = (ms: number) => ({ startTime: new Date(ms), endTime: new Date(ms + 1000) });
    await report(ids[0]!, [event('AppCrash', { ...at(dayStart + HOUR), count: 2 }), event('AppCrash', at(dayStart + 2 * HOUR)), event('OSCrash', at(dayStart + 25 * HOUR))]);
    await report(ids[1]!, [event('AppCrash', at(dayStart + 25 * HOUR)), event('AppExit', at(dayStart + 26 * HOUR))]);

    const byCategory = await fx.services.errorReports.errorSummary(t.admin, {}, 'CATEGORY', 'DAY');
    expect(byCategory.rows.map((r) => [r.bucketStart!.getTime() - dayStart, r.key, r.eventCount, r.reportCount, r.deviceCount])).toEqual([
      [0, 'AppCrash', 3, 2, 1],
      [24 * HOUR, 'AppCrash', 1, 1, 1],
      [24 * HOUR, 'AppExit', 1, 1, 1],
      [24 * HOUR, 'OSCrash', 1, 1, 1],
    ]);
    const byDevice = await fx.services.errorReports.errorSummary(t.admin, { deviceGroupId: groupId, eventClass: 'Application' }, 'DEVICE', null);
    expect(byDevice.rows.map((r) => [r.key, r.eventCount]).sort()).toEqual([
      [ids[0], 3],
      [ids[1], 2],
    ]);
    const hourly = await fx.services.errorReports.errorSummary(t.admin, { from: new Date(dayStart), to: new Date(dayStart + 24 * HOUR) }, 'COMPONENT', 'HOUR');
    expect(hourly.rows.map((r) => [r.bucketStart!.getTime() - dayStart, r.key, r.eventCount])).toEqual([
      [HOUR, APP.componentId, 2],
      [2 * HOUR, APP.componentId, 1],
    ]);
  });

  test('lists reports newest first in pages whose cursors visit every report once', async () => {
    const { t, ids } = await fleet(1);
    const base = fx.clock.now().getTime() - 10 * HOUR;
    // Two events share a start time: the ID breaks the tie.
    const events = Array.from({ length: 5 }, (_, i) => event('OSCrash', { startTime: new Date(base + Math.min(i, 3) * HOUR), endTime: new Date(base + 4 * HOUR) }));
    await report(ids[0]!, events);
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await fx.services.errorReports.listErrorReports(t.admin, { deviceId: ids[0] }, { first: 2, after });
      expect(page.totalCount).toBe(5);
      seen.push(...page.items.map((r) => r.eventId));
      if (!page.hasNextPage) break;
      after = page.endCursor;
    }
    expect(new Set(seen).size).toBe(5);
    const all = [];
    for await (const r of await fx.services.errorReports.exportErrorReports(t.admin, { deviceId: ids[0] })) all.push(r.eventId);
    expect(all).toEqual(seen);
    const starts = (await fx.services.errorReports.listErrorReports(t.admin, { deviceId: ids[0] }, {})).items.map((r) => r.startTime.getTime());
    expect(starts).toEqual([...starts].sort((a, b) => b - a));
  });

  test('tenants never see each other: another tenant reads nothing and gets NOT_FOUND; no key is UNAUTHENTICATED', async () => {
    const { t, ids } = await fleet(1);
    const stranger = await newTenant(fx.services);
    await report(ids[0]!, [event('AppCrash')]);
    const [issue] = (await fx.services.errorReports.listIssues(t.admin, {}, 'LAST_SEEN', {})).items;
    const reader = await t.actorWithRole('Reader');
    expect((await fx.services.errorReports.getIssue(reader, issue!.id)).id).toBe(issue!.id);

    expect((await fx.services.errorReports.listErrorReports(stranger.admin, { deviceId: ids[0] }, {})).totalCount).toBe(0);
    expect((await fx.services.errorReports.listIssues(stranger.admin, {}, 'LAST_SEEN', {})).totalCount).toBe(0);
    expect((await fx.services.errorReports.errorSummary(stranger.admin, { deviceId: ids[0] }, 'NONE', null)).rows).toEqual([]);
    expect(await errorCodeOf(fx.services.errorReports.getIssue(stranger.admin, issue!.id))).toBe('NOT_FOUND');
    expect(await errorCodeOf(fx.services.errorReports.listErrorReports(null, {}, {}))).toBe('UNAUTHENTICATED');
    expect(await errorCodeOf(fx.services.errorReports.purgeExpired(t.admin, 'node'))).toBe('FORBIDDEN');
    expect(await errorCodeOf(fx.services.errorReports.listErrorReports(t.admin, { productId: 'nope' }, {}))).toBe('BAD_USER_INPUT');
  });

  // Last: it moves the shared clock forward.
  test('the retention purge removes only events older than the window, on the node that holds the lease', async () => {
    const { t, ids } = await fleet(1);
    const now = fx.clock.now().getTime();
    const old = event('OSCrash', { startTime: new Date(now - 13 * 24 * HOUR), endTime: new Date(now - 13 * 24 * HOUR) });
    const recent = event('OSCrash', { startTime: new Date(now - 2 * 24 * HOUR), endTime: new Date(now - 2 * 24 * HOUR) });
    await report(ids[0]!, [old, recent]);
    fx.clock.advance(2 * 24 * HOUR); // old is now 15 days old, recent 4 days

    const first = await fx.services.errorReports.purgeExpired(PLATFORM, 'node-a');
    expect(first.ran).toBe(true);
    expect(first.deleted).toBeGreaterThanOrEqual(1);
    const left = (await fx.services.errorReports.listErrorReports(t.admin, { deviceId: ids[0] }, {})).items.map((r) => r.eventId);
    expect(left).toEqual([recent.eventId]);
    // While node-a holds the lease, node-b does not run the purge; node-a may run it again.
    expect(await fx.services.errorReports.purgeExpired({ kind: 'system' }, 'node-b')).toEqual({ ran: false, deleted: 0 });
    expect((await fx.services.errorReports.purgeExpired({ kind: 'system' }, 'node-a')).ran).toBe(true);
    fx.clock.advance(11 * 60_000); // the lease (10 minutes) has expired
    expect((await fx.services.errorReports.purgeExpired({ kind: 'system' }, 'node-b')).ran).toBe(true);
  });
});
