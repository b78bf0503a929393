/**
 * Where a device keeps the error events it recorded until the broker acknowledged them (PROTOCOL.md, "Error
 * reports"): a bounded FIFO over a store. A full queue drops its oldest events and counts them in a running total
 * that every batch reports. The file store writes `<identity file>.errors.json` (mode 0600, replaced atomically), so
 * a device keeps its unsent events and its drop count across restarts.
 */
import { besideIdentity, readJsonFile, writeJsonFileAtomically } from './json-file.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ErrorEvent } from '../contract/mqtt/messages.js';

export interface ErrorQueueState {
  /** Oldest first. */
  readonly events: readonly ErrorEvent[];
  /** Events ever dropped because the queue was full. */
  readonly droppedTotal: number;
}

export interface ErrorQueueStore {
  /** null: nothing stored yet. */
  load(): Promise<ErrorQueueState | null>;
  save(state: ErrorQueueState): Promise<void>;
}

export class MemoryErrorQueueStore implements ErrorQueueStore {
  private current: ErrorQueueState | null = null;
  async load(): Promise<ErrorQueueState | null> {
    return this.current;
  }
  async save(state: ErrorQueueState): Promise<void> {
    this.current = { events: [...state.events], droppedTotal: state.droppedTotal };
  }
}

const FILE_VERSION = 1;
export const ERROR_QUEUE_FILE_SUFFIX = '.errors.json';
const eventCheck = TypeCompiler.Compile(ErrorEvent);

export class FileErrorQueueStore implements ErrorQueueStore {
  constructor(readonly path: string) {}

  /** The error queue store that belongs to an identity file: `<identity path without .json>.errors.json`. */
  static besideIdentity(identityPath: string): FileErrorQueueStore {
    return new FileErrorQueueStore(besideIdentity(identityPath, ERROR_QUEUE_FILE_SUFFIX));
  }

  /** A missing file is an empty queue (null); an unreadable one is an error, so no event is silently lost. */
  async load(): Promise<ErrorQueueState | null> {
    const value = await readJsonFile(this.path, 'error queue');
    if (value === null) return null;
    const problem = stateProblem(value);
    if (problem !== null) throw new Error(`${this.path}: not an error queue file (${problem})`);
    const state = value as { events: ErrorEvent[]; droppedTotal: number };
    return { events: state.events, droppedTotal: state.droppedTotal };
  }

  async save(state: ErrorQueueState): Promise<void> {
    await writeJsonFileAtomically(this.path, { version: FILE_VERSION, droppedTotal: state.droppedTotal, events: state.events });
  }
}

function stateProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'not an object';
  if (Reflect.get(v, 'version') !== FILE_VERSION) return `version must be ${FILE_VERSION}`;
  const droppedTotal: unknown = Reflect.get(v, 'droppedTotal');
  if (typeof droppedTotal !== 'number' || !Number.isSafeInteger(droppedTotal) || droppedTotal < 0) return 'droppedTotal must be a whole number >= 0';
  const events: unknown = Reflect.get(v, 'events');
  if (!Array.isArray(events)) return 'events must be an array';
  for (const [i, event] of events.entries()) {
    if (!eventCheck.Check(event)) {
      const first = eventCheck.Errors(event).First();
      return `events[${i}]${first ? `${first.path}: ${first.message}` : ' is not an error event'}`;
    }
  }
  return null;
}

/** Bounded FIFO over a store: push drops the OLDEST events beyond capacity and adds the number dropped to droppedTotal. */
export class ErrorQueue {
  private events: ErrorEvent[] = [];
  private dropped = 0;
  private loading: Promise<void> | null = null;
  /** Saves run one at a time, in order; each writes the queue as it is when it runs. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ErrorQueueStore,
    readonly capacity: number,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a whole number >= 1, got ${capacity}`);
  }

  /** Reads the store, once (later calls share the first). push and remove call it themselves. */
  load(): Promise<void> {
    this.loading ??= (async () => {
      const state = await this.store.load();
      if (state === null) return;
      this.events = [...state.events];
      this.dropped = state.droppedTotal;
      // A queue stored with a larger capacity: keep the newest.
      const excess = this.events.length - this.capacity;
      if (excess > 0) {
        this.events.splice(0, excess);
        this.dropped += excess;
      }
    })().catch((e: unknown) => {
      // Let a later call try again (e.g. after the file was repaired).
      this.loading = null;
      throw e;
    });
    return this.loading;
  }

  /** Appends the event, drops the oldest beyond capacity, and resolves once that is persisted. */
  async push(event: ErrorEvent): Promise<{ dropped: number }> {
    await this.load();
    this.events.push(event);
    const dropped = Math.max(0, this.events.length - this.capacity);
    if (dropped > 0) {
      this.events.splice(0, dropped);
      this.dropped += dropped;
    }
    await this.persist();
    return { dropped };
  }

  /** Oldest first. Empty before load() resolved. */
  peek(max: number): readonly ErrorEvent[] {
    return this.events.slice(0, Math.max(0, max));
  }

  /** Removes these events (the broker acknowledged them) and resolves once that is persisted. Unknown IDs are ignored. */
  async remove(eventIds: readonly string[]): Promise<void> {
    await this.load();
    const gone = new Set(eventIds);
    const before = this.events.length;
    this.events = this.events.filter((e) => !gone.has(e.eventId));
    if (this.events.length === before) {
      await this.writes;
      return;
    }
    await this.persist();
  }

  get size(): number {
    return this.events.length;
  }

  get droppedTotal(): number {
    return this.dropped;
  }

  private persist(): Promise<void> {
    const write = this.writes.then(() => this.store.save({ events: [...this.events], droppedTotal: this.dropped }));
    // A failed save fails its own caller; the next save still runs (and writes the whole queue again).
    this.writes = write.catch(() => undefined);
    return write;
  }
}
