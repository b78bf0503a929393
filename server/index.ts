/** The GraphQL gateway's public surface. */
export { startGateway, type Gateway, type GatewayOptions } from './gateway.js';
export { healthRoute, sendJson, type HttpRoute, type RouteContext } from './http/routes.js';
export type { OperationLimits } from './validation/index.js';
