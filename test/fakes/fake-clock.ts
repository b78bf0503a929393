import type { Clock } from '../../domain/shared/clock.js';

/** A clock tests move by hand. Starts at a fixed instant so results are reproducible. */
export class FakeClock implements Clock {
  private current: number;
  constructor(start: Date = new Date('2030-01-01T00:00:00.000Z')) {
    this.current = start.getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current += ms;
  }
}
