/** Which ErrorReported and IssueOpened events one subscriber receives: its own tenant's, then its optional filter. */
import type { DomainEvent, ErrorReported, IssueOpened } from '../../domain/events/events.js';
import type { ErrorReportView, IssueView } from '../../domain/views.js';

export interface ErrorReportedFilter {
  readonly productId?: string | null;
  readonly deviceGroupId?: string | null;
  readonly deviceId?: string | null;
  readonly category?: string | null;
  readonly eventClass?: string | null;
  readonly eventType?: string | null;
  readonly componentId?: string | null;
  readonly imageId?: string | null;
  readonly from?: Date | null;
  readonly to?: Date | null;
}

const same = (want: string | null | undefined, got: string | null): boolean => want == null || want.toLowerCase() === got?.toLowerCase();

export function errorReportedMatcher(tenantId: string, f: ErrorReportedFilter | null | undefined): (event: DomainEvent) => event is ErrorReported {
  const from = f?.from?.getTime() ?? null;
  const to = f?.to?.getTime() ?? null;
  return (event): event is ErrorReported => {
    if (event.type !== 'ErrorReported' || event.tenantId !== tenantId) return false;
    const r = event.report;
    const start = Date.parse(r.startTime);
    return (
      same(f?.productId, r.productId) &&
      same(f?.deviceGroupId, r.deviceGroupId) &&
      same(f?.deviceId, r.deviceId) &&
      same(f?.category, r.category) &&
      same(f?.eventClass, r.eventClass) &&
      same(f?.eventType, r.eventType) &&
      same(f?.componentId, r.componentId) &&
      same(f?.imageId, r.imageId) &&
      (from === null || start >= from) &&
      (to === null || start < to)
    );
  };
}

export interface IssueOpenedFilter {
  readonly productId?: string | null;
  readonly deviceGroupId?: string | null;
  readonly componentId?: string | null;
}

export function issueOpenedMatcher(tenantId: string, f: IssueOpenedFilter | null | undefined): (event: DomainEvent) => event is IssueOpened {
  return (event): event is IssueOpened =>
    event.type === 'IssueOpened' &&
    event.tenantId === tenantId &&
    same(f?.productId, event.productId) &&
    same(f?.deviceGroupId, event.deviceGroupId) &&
    same(f?.componentId, event.issue.componentId);
}

/** The view an event carries, with its times as dates again (events cross the bus as JSON-safe values). */
export function reportOfEvent(event: ErrorReported): ErrorReportView {
  const r = event.report;
  return {
    ...r,
    tenantId: event.tenantId,
    category: r.category as ErrorReportView['category'],
    startTime: new Date(r.startTime),
    endTime: new Date(r.endTime),
    receivedAt: new Date(r.receivedAt),
  };
}

export function issueOfEvent(event: IssueOpened): IssueView {
  const i = event.issue;
  return { ...i, tenantId: event.tenantId, category: i.category as IssueView['category'], firstSeen: new Date(i.firstSeen), lastSeen: new Date(i.lastSeen) };
}
