/** Error reports: pages, summaries, issues, and live reports and new issues. The CSV download is http/error-csv-route.ts. */
import type { Page } from '../../domain/shared/pagination.js';
import type { ErrorReportFilter as DomainErrorReportFilter } from '../../domain/views.js';
import type {
  ErrorReportFilter,
  ErrorReportResolvers,
  IssueResolvers,
  MutationResolvers,
  QueryResolvers,
  SubscriptionResolvers,
} from '../generated/graphql.js';
import { errorReportedMatcher, issueOfEvent, issueOpenedMatcher, reportOfEvent } from '../subscriptions/error-event-filter.js';
import { eventDevice, tenantEventStream } from '../subscriptions/tenant-stream.js';

export function toDomainErrorFilter(f: ErrorReportFilter | null | undefined): DomainErrorReportFilter {
  return {
    productId: f?.productId ?? null,
    deviceGroupId: f?.deviceGroupId ?? null,
    deviceId: f?.deviceId ?? null,
    category: f?.category ?? null,
    eventClass: f?.eventClass ?? null,
    eventType: f?.eventType ?? null,
    componentId: f?.componentId ?? null,
    imageId: f?.imageId ?? null,
    from: f?.from ?? null,
    to: f?.to ?? null,
  };
}

/** Relay connection from a domain page that hands out each item's cursor. */
function connectionOf<T>(page: Page<T>) {
  return {
    totalCount: page.totalCount,
    edges: page.items.map((node, i) => ({ node, cursor: page.itemCursors?.[i] ?? page.endCursor ?? '' })),
    pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor },
  };
}

export const errorsResolvers = {
  Query: {
    errorReports: (_root, { filter, first, after }, { services, actor }) =>
      services.errorReports
        .listErrorReports(actor, toDomainErrorFilter(filter), { first: first ?? null, after: after ?? null })
        .then(connectionOf),
    errorSummary: (_root, { filter, groupBy, bucket }, { services, actor }) =>
      services.errorReports.errorSummary(actor, toDomainErrorFilter(filter), groupBy, bucket ?? null),
    issues: (_root, { filter, sort, first, after }, { services, actor }) =>
      services.errorReports
        .listIssues(
          actor,
          { category: filter?.category ?? null, componentId: filter?.componentId ?? null, imageId: filter?.imageId ?? null, seenSince: filter?.seenSince ?? null },
          sort,
          { first: first ?? null, after: after ?? null },
        )
        .then(connectionOf),
    issue: (_root, { id }, { services, actor }) => services.errorReports.getIssue(actor, id),
  } satisfies QueryResolvers,
  Mutation: {} satisfies MutationResolvers,
  Subscription: {
    errorReported: {
      subscribe: (_root, { filter }, ctx) =>
        tenantEventStream(ctx, (tenantId) => {
          const matches = errorReportedMatcher(tenantId, filter);
          return (event) => (matches(event) ? { errorReported: reportOfEvent(event) } : null);
        }),
    },
    issueOpened: {
      subscribe: (_root, { filter }, ctx) =>
        tenantEventStream(ctx, (tenantId) => {
          const matches = issueOpenedMatcher(tenantId, filter);
          return (event) => (matches(event) ? { issueOpened: issueOfEvent(event) } : null);
        }),
    },
  } satisfies SubscriptionResolvers,
  ErrorReport: {
    device: (report, _args, ctx) => eventDevice(ctx, report.deviceId),
    issue: (report, _args, { services, actor }) => (report.issueId ? services.errorReports.getIssue(actor, report.issueId) : null),
  } satisfies ErrorReportResolvers,
  Issue: {
    deployment: (issue, _args, { services, actor }) => (issue.deploymentId ? services.deployments.getDeployment(actor, issue.deploymentId) : null),
  } satisfies IssueResolvers,
};
