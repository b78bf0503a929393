/**
 * Over-the-air update work the composition root runs: a device whose target changed hears of it at once (on
 * every broker node: the one it is connected to sends), and staged rollouts are driven on a timer (the domain
 * lets one node of the cluster do it at a time).
 */
import type { Broker } from '../broker/index.js';
import type { EventBus } from '../domain/events/event-bus.js';
import type { Services } from '../domain/services.js';
import type { Logger } from '../domain/shared/logger.js';
import { runPeriodically } from './periodic.js';

export function pushTargetsOnChange(bus: EventBus, broker: Pick<Broker, 'pushTarget'>, log: Logger): () => void {
  return bus.subscribe((event) => {
    if (event.type !== 'DeviceTargetChanged') return;
    broker
      .pushTarget(event.deviceId)
      .catch((e: unknown) => log.error({ deviceId: event.deviceId, err: e instanceof Error ? e.message : String(e) }, 'could not send a device its new target'));
  });
}

export function driveRolloutsPeriodically(services: Pick<Services, 'deployments'>, nodeId: string, log: Logger, intervalMs: number): () => Promise<void> {
  return runPeriodically(
    'rollout driver',
    async () => {
      await services.deployments.driveRollouts({ kind: 'system' }, nodeId);
    },
    log,
    intervalMs,
  );
}
