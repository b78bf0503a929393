/** The slice of the wire contract the agent speaks, re-exported in one place. */
export type { Payload } from '../contract/mqtt/codec.js';
export type { AttestationStatement, ImageMeasurement } from '../contract/mqtt/messages.js';
