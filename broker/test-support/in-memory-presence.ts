/**
 * A PresenceService that keeps its state in memory and records every call, for broker tests about transport
 * behaviour. It follows the domain's contract: connected() bumps a per-device sequence, disconnected() with an
 * older sequence than the newest connection changes nothing.
 */
import type { PresenceService } from '../../domain/services.js';
import type { Admission, ConnectionInfo, DeviceStatusReport } from '../../domain/views.js';

interface DeviceRecord {
  thumbprint: string;
  tenantId: string | null;
  revoked: boolean;
  online: boolean;
  connectionSeq: number;
  lastSeenAt: number | null;
  status: DeviceStatusReport | null;
  remoteAddress: string | null;
}

export type PresenceCall =
  | { readonly op: 'admit'; readonly deviceId: string; readonly thumbprint: string }
  | { readonly op: 'connected'; readonly deviceId: string; readonly info: ConnectionInfo; readonly seq: number }
  | { readonly op: 'disconnected'; readonly deviceId: string; readonly seq: number }
  | { readonly op: 'reportStatus'; readonly deviceId: string; readonly report: DeviceStatusReport }
  | { readonly op: 'touch'; readonly deviceId: string };

export class InMemoryPresence implements PresenceService {
  readonly calls: PresenceCall[] = [];
  private readonly devices = new Map<string, DeviceRecord>();
  /** Errors the next admit / connected calls throw, one per call (a broken database). */
  readonly admitErrors: unknown[] = [];
  readonly connectedErrors: unknown[] = [];
  /** Errors the next reportStatus calls throw, one per call (a broken database, a domain refusal). */
  readonly reportStatusErrors: unknown[] = [];
  /** Delay before connected() answers (ms), to provoke races. */
  connectedDelayMs = 0;
  /** Delay before reportStatus() stores (ms), to show what waits for it. */
  reportStatusDelayMs = 0;

  register(deviceId: string, thumbprint: string, tenantId: string | null = null): void {
    this.devices.set(deviceId, {
      thumbprint,
      tenantId,
      revoked: false,
      online: false,
      connectionSeq: 0,
      lastSeenAt: null,
      status: null,
      remoteAddress: null,
    });
  }

  revoke(deviceId: string): void {
    this.record(deviceId).revoked = true;
  }

  device(deviceId: string): Readonly<DeviceRecord> {
    return { ...this.record(deviceId) };
  }

  callsFor(deviceId: string, op?: PresenceCall['op']): PresenceCall[] {
    return this.calls.filter((c) => c.deviceId === deviceId && (op === undefined || c.op === op));
  }

  async admit(deviceId: string, certificateSha256: string): Promise<Admission> {
    this.calls.push({ op: 'admit', deviceId, thumbprint: certificateSha256 });
    if (this.admitErrors.length > 0) throw this.admitErrors.shift();
    const d = this.devices.get(deviceId);
    if (!d) return { admitted: false, reason: 'UNREGISTERED' };
    if (d.revoked) return { admitted: false, reason: 'REVOKED' };
    if (d.thumbprint !== certificateSha256) return { admitted: false, reason: 'CERTIFICATE_MISMATCH' };
    return { admitted: true, tenantId: d.tenantId };
  }

  async connected(deviceId: string, info: ConnectionInfo): Promise<{ connectionSeq: number }> {
    if (this.connectedErrors.length > 0) throw this.connectedErrors.shift();
    const d = this.record(deviceId);
    const seq = ++d.connectionSeq;
    if (this.connectedDelayMs > 0) await new Promise((r) => setTimeout(r, this.connectedDelayMs));
    d.online = true;
    d.lastSeenAt = Date.now();
    d.remoteAddress = info.remoteAddress;
    this.calls.push({ op: 'connected', deviceId, info, seq });
    return { connectionSeq: seq };
  }

  async disconnected(deviceId: string, connectionSeq: number): Promise<void> {
    const d = this.record(deviceId);
    this.calls.push({ op: 'disconnected', deviceId, seq: connectionSeq });
    if (connectionSeq !== d.connectionSeq) return;
    d.online = false;
  }

  async reportStatus(deviceId: string, report: DeviceStatusReport): Promise<void> {
    if (this.reportStatusErrors.length > 0) throw this.reportStatusErrors.shift();
    if (this.reportStatusDelayMs > 0) await new Promise((r) => setTimeout(r, this.reportStatusDelayMs));
    const d = this.record(deviceId);
    d.status = report;
    d.lastSeenAt = Date.now();
    this.calls.push({ op: 'reportStatus', deviceId, report });
  }

  async touch(deviceIds: readonly string[]): Promise<void> {
    for (const deviceId of deviceIds) {
      this.record(deviceId).lastSeenAt = Date.now();
      this.calls.push({ op: 'touch', deviceId });
    }
  }

  async resetNode(): Promise<number> {
    let n = 0;
    for (const d of this.devices.values()) {
      if (d.online) n += 1;
      d.online = false;
    }
    return n;
  }

  private record(deviceId: string): DeviceRecord {
    const d = this.devices.get(deviceId);
    if (!d) throw new Error(`unknown device ${deviceId.slice(0, 8)}…`);
    return d;
  }
}
