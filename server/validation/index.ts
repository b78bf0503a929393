import type { ValidationRule } from 'graphql';
import { costLimitRule, DEFAULT_MAX_COST } from './cost-limit.js';
import { DEFAULT_MAX_DEPTH, depthLimitRule } from './depth-limit.js';

export { costLimitRule, DEFAULT_MAX_COST, DEFAULT_LIST_SIZE } from './cost-limit.js';
export { depthLimitRule, DEFAULT_MAX_DEPTH } from './depth-limit.js';

/**
 * Tokens a document may have. graphql's own validation (overlapping-field checks) grows faster than linearly with
 * the document, so the cheapest defence against a huge document is to stop parsing it. Hand-written operations
 * stay far below; bulk data (1,000 CSRs) travels in variables, which are not tokens.
 */
export const DEFAULT_MAX_TOKENS = 10_000;

export interface OperationLimits {
  /** @default 10_000 */
  readonly maxTokens?: number;
  /** @default 10 */
  readonly maxDepth?: number;
  /** @default 10_000 */
  readonly maxCost?: number;
}

/** Our rules, run after graphql's specified rules on HTTP and WebSocket alike. */
export function limitRules(limits: OperationLimits = {}): ValidationRule[] {
  return [depthLimitRule(limits.maxDepth ?? DEFAULT_MAX_DEPTH), costLimitRule(limits.maxCost ?? DEFAULT_MAX_COST)];
}
