/**
 * Imported first by the service's entry points, before anything that reads NODE_ENV as it loads: graphql-js's
 * development-mode type checks (its `instanceOf` looks for a second copy of graphql on every miss) cost about a
 * fifth of a query's execution. A NODE_ENV given by the operator (or by Jest: `test`) is kept.
 */
process.env['NODE_ENV'] ??= 'production';

export {};
