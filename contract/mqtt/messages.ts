/**
 * One schema per message, versioned by the `v` field. TypeBox gives both the runtime validator and the static type,
 * and emits JSON Schema that device makers in other languages can use (see PROTOCOL.md).
 */
import { Type, type Static } from '@sinclair/typebox';

const Guid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });

export const InstalledImage = Type.Object(
  {
    componentId: Guid,
    imageId: Guid,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    version: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);

/** devices/{id}/up/status — QoS 1, device -> service, on every connect and whenever it changes. */
export const StatusReport = Type.Object(
  {
    v: Type.Literal(1),
    osVersion: Type.String({ minLength: 1, maxLength: 64 }),
    uptimeSeconds: Type.Integer({ minimum: 0, maximum: 10 * 365 * 24 * 3600 }),
    installedImages: Type.Array(InstalledImage, { maxItems: 64 }),
  },
  { additionalProperties: false },
);
export type StatusReport = Static<typeof StatusReport>;

/** Device-facing refusal codes (PROTOCOL.md lists when each is sent). */
export const DEVICE_ERROR_CODES = ['BAD_PAYLOAD', 'UNKNOWN_TOPIC', 'FORBIDDEN', 'INTERNAL'] as const;
export type DeviceErrorCode = (typeof DEVICE_ERROR_CODES)[number];

/** devices/{id}/down/error — QoS 1, service -> device: why a message of the device was refused. */
export const ErrorReply = Type.Object(
  {
    v: Type.Literal(1),
    code: Type.Union(DEVICE_ERROR_CODES.map((c) => Type.Literal(c))),
    message: Type.String({ maxLength: 500 }),
    /** The topic of the refused message. */
    topic: Type.String({ maxLength: 300 }),
  },
  { additionalProperties: false },
);
export type ErrorReply = Static<typeof ErrorReply>;

/** Largest MQTT packet the broker accepts (bytes); larger ones close the connection. */
export const MAX_PACKET_BYTES = 64 * 1024;
/** Most topic filters in one SUBSCRIBE. */
export const MAX_TOPICS_PER_SUBSCRIBE = 8;
/** Keep-alive the device asks for (s); the broker refuses 0 and caps it at MAX_KEEPALIVE_SECONDS. */
export const DEFAULT_KEEPALIVE_SECONDS = 60;
export const MAX_KEEPALIVE_SECONDS = 1200;
