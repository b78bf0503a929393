import type { EntityManager } from '@mikro-orm/core';
import type { EventBus } from '../events/event-bus.js';
import type { Pki } from '../pki/pki.port.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';

/** What every service is built from (by createServices, once, in the composition root). */
export interface ServiceDeps {
  /** The root EntityManager: each call forks it, so one call is one unit of work and nothing leaks between calls. */
  readonly em: EntityManager;
  readonly bus: EventBus;
  readonly clock: Clock;
  readonly pki: Pki;
  readonly log: Logger;
  /** The platform operator's bearer token. Never logged. */
  readonly platformAdminKey: string;
}
