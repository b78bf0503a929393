import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Device } from '../devices/device.entity.js';
import { DeviceGroup } from '../products/device-group.entity.js';
import { Product } from '../products/product.entity.js';
import { Tenant } from '../tenancy/tenant.entity.js';
import type { ErrorCategory, ErrorEventClass, ErrorEventType } from './error-categories.js';

/**
 * Events grouped by signature (category, component, image, exit code, signal) within a tenant. Counters are kept
 * up to date in the transaction that stores the events, so listing issues never scans events.
 */
export const ErrorIssue = defineEntity({
  name: 'ErrorIssue',
  tableName: 'error_issue',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    /** SHA-256 (hex) of the grouping fields: one issue per signature and tenant. */
    signature: p.string().length(64),
    category: p.string().length(16).$type<ErrorCategory>(),
    eventClass: p.string().length(16).$type<ErrorEventClass>(),
    componentId: p.uuid().nullable(),
    imageId: p.uuid().nullable(),
    exitCode: p.integer().nullable(),
    signal: p.integer().nullable(),
    firstSeen: p.datetime(),
    lastSeen: p.datetime(),
    /** Sum of the events' counts. */
    eventCount: p.integer(),
    deviceCount: p.integer(),
    openedAt: p.datetime(),
    /** The deployment whose image the issue first appeared on, when it appeared after that deployment began. */
    deploymentId: p.uuid().nullable(),
  },
  uniques: [{ properties: ['tenant', 'signature'] }],
  indexes: [{ properties: ['tenant', 'lastSeen'] }, { properties: ['tenant', 'deviceCount'] }],
});
export type ErrorIssueEntity = InferEntity<typeof ErrorIssue>;

/** Which devices an issue has been seen on (its deviceCount is the number of these rows). */
export const ErrorIssueDevice = defineEntity({
  name: 'ErrorIssueDevice',
  tableName: 'error_issue_device',
  properties: {
    id: p.uuid().primary(),
    issue: p.manyToOne(ErrorIssue).mapToPk().deleteRule('cascade'),
    device: p.manyToOne(Device).mapToPk(),
  },
  uniques: [{ properties: ['issue', 'device'] }],
});
export type ErrorIssueDeviceEntity = InferEntity<typeof ErrorIssueDevice>;

/**
 * One event a device reported (Azure Sphere's error data fields), with the product and group the device was in
 * when it arrived. Unique per device and device-chosen event ID, so a resent batch never counts twice.
 */
export const ErrorReport = defineEntity({
  name: 'ErrorReport',
  tableName: 'error_report',
  properties: {
    id: p.uuid().primary(),
    // No index of their own (SQLite would make one per foreign key): (tenant, startTime, id) and (device, eventId)
    // lead with them, and every query on either (and a foreign-key check) uses those; each index costs every insert.
    tenant: p.manyToOne(Tenant).mapToPk().index(false),
    device: p.manyToOne(Device).mapToPk().index(false),
    eventId: p.uuid(),
    eventType: p.string().length(16).$type<ErrorEventType>(),
    eventClass: p.string().length(16).$type<ErrorEventClass>(),
    category: p.string().length(16).$type<ErrorCategory>(),
    count: p.integer(),
    description: p.string().length(300),
    exitCode: p.integer().nullable(),
    signal: p.integer().nullable(),
    componentId: p.uuid().nullable(),
    imageId: p.uuid().nullable(),
    startTime: p.datetime(),
    endTime: p.datetime(),
    /** Hours since the epoch of startTime: the time bucket of summaries (days are 24 of them). */
    hourBucket: p.integer(),
    receivedAt: p.datetime(),
    product: p.manyToOne(Product).mapToPk().nullable(),
    deviceGroup: p.manyToOne(DeviceGroup).mapToPk().nullable(),
    /** Unplanned events only. */
    issue: p.manyToOne(ErrorIssue).mapToPk().nullable(),
  },
  uniques: [{ properties: ['device', 'eventId'] }],
  indexes: [
    { properties: ['tenant', 'startTime', 'id'] },
    { properties: ['device', 'receivedAt'] },
    { properties: ['endTime'] },
    { properties: ['issue'] },
  ],
});
export type ErrorReportEntity = InferEntity<typeof ErrorReport>;

export const DROP_REASONS = ['RATE_LIMITED', 'DEVICE_QUEUE_FULL'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/**
 * Events not stored one by one: the excess over a device's rate limit, and what the device itself dropped when its
 * queue was full. One row per device, hour and reason, counting.
 */
export const ErrorReportDrop = defineEntity({
  name: 'ErrorReportDrop',
  tableName: 'error_report_drop',
  properties: {
    id: p.uuid().primary(),
    tenant: p.manyToOne(Tenant).mapToPk(),
    device: p.manyToOne(Device).mapToPk(),
    hourBucket: p.integer(),
    reason: p.string().length(32).$type<DropReason>(),
    dropped: p.integer(),
    updatedAt: p.datetime(),
  },
  uniques: [{ properties: ['device', 'hourBucket', 'reason'] }],
  indexes: [{ properties: ['tenant', 'hourBucket'] }, { properties: ['updatedAt'] }],
});
export type ErrorReportDropEntity = InferEntity<typeof ErrorReportDrop>;
