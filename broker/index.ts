/** The MQTT broker: what app/ composes. */
export { startBroker } from './broker.js';
export type { Broker, BrokerOptions, BrokerTlsOptions } from './options.js';
export { DEFAULT_LIMITS, type BrokerLimits } from './limits.js';
export type { Outbound } from './outbound.js';
