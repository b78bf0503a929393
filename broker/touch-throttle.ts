/**
 * Keep-alives arrive every few seconds to minutes per device; recording each one would turn PINGREQs into database
 * writes. A device's lastSeen is refreshed at most once per interval.
 */
export class TouchThrottle {
  private readonly lastTouched = new Map<string, number>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when the device is due a touch (and records that it got one). */
  shouldTouch(deviceId: string): boolean {
    const now = this.now();
    const last = this.lastTouched.get(deviceId);
    if (last !== undefined && now - last < this.intervalMs) return false;
    this.lastTouched.set(deviceId, now);
    return true;
  }

  /** Records a touch that happened another way (connect and status reports refresh lastSeen too). */
  markTouched(deviceId: string): void {
    this.lastTouched.set(deviceId, this.now());
  }

  forget(deviceId: string): void {
    this.lastTouched.delete(deviceId);
  }
}
