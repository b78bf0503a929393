/**
 * One schema per message, versioned by the `v` field. TypeBox gives both the runtime validator and the static type,
 * and emits JSON Schema that device makers in other languages can use (see PROTOCOL.md).
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const Guid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });
const Sha256Hex = Type.String({ pattern: '^[0-9a-fA-F]{64}$' });
/** Chosen by the device, echoed in the reply so it can match replies to requests. */
const RequestId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const DeviceId = Type.String({ pattern: '^[0-9A-F]{128}$' });
/** UTC, as Date.prototype.toISOString writes it. */
const IsoTime = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,6})?Z$' });

/**
 * Every free-text field, both directions: any characters but NUL (U+0000), which neither database the service runs
 * on can store in text. Other control characters (tab, newline, …) stay allowed: they are stored as sent, and
 * devices in the field may send them today. The domain states the same rule (domain/shared/validation.ts).
 */
export const TEXT_PATTERN = '^[^\\x00]*$';
const Text = (length: { minLength?: number; maxLength: number }) => Type.String({ ...length, pattern: TEXT_PATTERN });

export const InstalledImage = Type.Object(
  {
    componentId: Guid,
    imageId: Guid,
    name: Type.Optional(Text({ minLength: 1, maxLength: 100 })),
    version: Type.Optional(Text({ minLength: 1, maxLength: 64 })),
    /** SHA-256 of the installed image package, lower- or upper-case hex: the measurement attestation checks. */
    sha256: Type.Optional(Sha256Hex),
  },
  { additionalProperties: false },
);

/** devices/{id}/up/status — QoS 1, device -> service, on every connect and whenever it changes. */
export const StatusReport = Type.Object(
  {
    v: Type.Literal(1),
    osVersion: Text({ minLength: 1, maxLength: 64 }),
    uptimeSeconds: Type.Integer({ minimum: 0, maximum: 10 * 365 * 24 * 3600 }),
    installedImages: Type.Array(InstalledImage, { maxItems: 64 }),
  },
  { additionalProperties: false },
);
export type StatusReport = Static<typeof StatusReport>;

/** Device-facing refusal codes (PROTOCOL.md lists when each is sent). */
/** devices/{id}/up/challenge-request — QoS 1, device -> service: "give me a nonce". */
export const ChallengeRequest = Type.Object({ v: Type.Literal(1), requestId: RequestId }, { additionalProperties: false });
export type ChallengeRequest = Static<typeof ChallengeRequest>;

/** devices/{id}/down/challenge — QoS 1, service -> device: a fresh single-use nonce for this device. */
export const Challenge = Type.Object(
  {
    v: Type.Literal(1),
    requestId: RequestId,
    /** 32 random bytes, base64url without padding. */
    nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    expiresAt: IsoTime,
  },
  { additionalProperties: false },
);
export type Challenge = Static<typeof Challenge>;

/** One measured image: what the device has installed, by image ID and package hash. */
export const ImageMeasurement = Type.Object(
  { componentId: Guid, imageId: Guid, sha256: Sha256Hex },
  { additionalProperties: false },
);
export type ImageMeasurement = Static<typeof ImageMeasurement>;

/**
 * What the device signs with its identity key (the `statement` of an Attestation, as UTF-8 JSON): the nonce it
 * was given, its own ID, what it runs, and a CSR for a NEW P-256 key made on the device.
 */
export const AttestationStatement = Type.Object(
  {
    v: Type.Literal(1),
    nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    deviceId: DeviceId,
    measurements: Type.Object(
      {
        osVersion: Text({ minLength: 1, maxLength: 64 }),
        images: Type.Array(ImageMeasurement, { maxItems: 64 }),
      },
      { additionalProperties: false },
    ),
    /** PKCS#10, PEM. */
    csr: Type.String({ minLength: 1, maxLength: 8192, pattern: '^[^\\x00]*-----BEGIN CERTIFICATE REQUEST-----[^\\x00]*$' }),
  },
  { additionalProperties: false },
);
export type AttestationStatement = Static<typeof AttestationStatement>;

/**
 * devices/{id}/up/attestation — QoS 1, device -> service. `statement` is the base64 of the UTF-8 JSON of an
 * AttestationStatement; `signature` is the base64 of the ECDSA P-256 / SHA-256 signature over exactly those
 * bytes, in IEEE P1363 form (r || s, 64 bytes), made with the identity key. Signing the bytes as sent avoids any
 * JSON canonicalisation (as JWS does).
 */
export const Attestation = Type.Object(
  {
    v: Type.Literal(1),
    requestId: RequestId,
    statement: Type.String({ minLength: 1, maxLength: 16384, pattern: '^[A-Za-z0-9+/]+={0,2}$' }),
    signature: Type.String({ minLength: 86, maxLength: 88, pattern: '^[A-Za-z0-9+/]+={0,2}$' }),
  },
  { additionalProperties: false },
);
export type Attestation = Static<typeof Attestation>;

/** Why an attestation was refused (PROTOCOL.md, "Attestation refusals"). */
export const ATTESTATION_REFUSALS = [
  'BAD_STATEMENT',
  'NONCE_INVALID',
  'NONCE_EXPIRED',
  'NONCE_REPLAYED',
  'BAD_SIGNATURE',
  'BAD_CSR',
  'MEASUREMENT_NOT_ALLOWED',
  'DEVICE_UNCLAIMED',
  'DEVICE_REVOKED',
  'RATE_LIMITED',
] as const;
export type AttestationRefusal = (typeof ATTESTATION_REFUSALS)[number];

/** devices/{id}/down/attestation-result — QoS 1, service -> device: a certificate, or why not. */
export const AttestationResult = Type.Union([
  Type.Object(
    {
      v: Type.Literal(1),
      requestId: RequestId,
      result: Type.Literal('ISSUED'),
      /** The device certificate, signed by the tenant's active CA. */
      certificatePem: Text({ maxLength: 8192 }),
      /** The issuing tenant CA, then the platform root (PEM): what the device presents after its certificate. */
      chainPem: Text({ maxLength: 16384 }),
      serialNumber: Type.String({ pattern: '^[0-9A-F]{1,64}$' }),
      notBefore: IsoTime,
      notAfter: IsoTime,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      v: Type.Literal(1),
      requestId: RequestId,
      result: Type.Literal('REFUSED'),
      reason: Type.Union(ATTESTATION_REFUSALS.map((r) => Type.Literal(r))),
      message: Text({ maxLength: 500 }),
    },
    { additionalProperties: false },
  ),
]);
export type AttestationResult = Static<typeof AttestationResult>;

/**
 * Error and event categories, as Azure Sphere's error data names them. The category fixes the event type
 * (planned: updates and reboots; unplanned: crashes and exits) and class (OS or Application): see
 * ERROR_EVENT_KINDS.
 */
export const ERROR_EVENT_CATEGORIES = ['AppCrash', 'AppExit', 'OSCrash', 'AppUpdate', 'OSUpdate', 'Reboot'] as const;
export type ErrorEventCategory = (typeof ERROR_EVENT_CATEGORIES)[number];

export const ERROR_EVENT_KINDS: { readonly [C in ErrorEventCategory]: { readonly type: 'Planned' | 'Unplanned'; readonly eventClass: 'OS' | 'Application' } } = {
  AppCrash: { type: 'Unplanned', eventClass: 'Application' },
  AppExit: { type: 'Unplanned', eventClass: 'Application' },
  OSCrash: { type: 'Unplanned', eventClass: 'OS' },
  AppUpdate: { type: 'Planned', eventClass: 'Application' },
  OSUpdate: { type: 'Planned', eventClass: 'OS' },
  Reboot: { type: 'Planned', eventClass: 'OS' },
};

/** One event a device recorded. Application categories name the component and image they are about. */
export const ErrorEvent = Type.Object(
  {
    /** Chosen by the device (a random UUID), unique per device: the service stores each event ID once. */
    eventId: Guid,
    category: Type.Union(ERROR_EVENT_CATEGORIES.map((c) => Type.Literal(c))),
    componentId: Type.Optional(Guid),
    imageId: Type.Optional(Guid),
    exitCode: Type.Optional(Type.Integer({ minimum: -2147483648, maximum: 2147483647 })),
    /** The signal that ended the application (e.g. 11, SIGSEGV). */
    signal: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    /** Events are checked one by one (decodeErrorReports), so a NUL here costs only this event. */
    description: Type.Optional(Text({ minLength: 1, maxLength: 200 })),
    /** How many times the event happened between startTime and endTime. */
    count: Type.Integer({ minimum: 1, maximum: 100000 }),
    startTime: IsoTime,
    endTime: IsoTime,
  },
  { additionalProperties: false },
);
export type ErrorEvent = Static<typeof ErrorEvent>;

/** Most events in one error-reports batch. */
export const MAX_ERROR_EVENTS_PER_BATCH = 100;

/** An error-reports batch around its events, whatever an event must be. */
const errorReportsOf = <E extends TSchema>(event: E) =>
  Type.Object(
    {
      v: Type.Literal(1),
      events: Type.Array(event, { minItems: 1, maxItems: MAX_ERROR_EVENTS_PER_BATCH }),
      droppedTotal: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })),
    },
    { additionalProperties: false },
  );

/**
 * devices/{id}/up/error-reports — QoS 1, device -> service: a batch of recorded events, oldest first.
 * `droppedTotal` is how many events the device has ever dropped because its queue was full: a running total, so
 * a batch sent twice never counts a drop twice.
 */
export const ErrorReports = errorReportsOf(ErrorEvent);
export type ErrorReports = Static<typeof ErrorReports>;
/**
 * What the service checks of an error-reports batch as a whole: ErrorReports with each event only an object. Each
 * event is then checked on its own against ErrorEvent (codec.ts, decodeErrorReports), so an event that breaks it
 * is refused alone and the batch's other events are kept.
 */
export const ErrorReportsEnvelope = errorReportsOf(Type.Object({}));
/** Largest error-reports payload; a larger one is refused (BAD_PAYLOAD) without being parsed. */
export const MAX_ERROR_REPORTS_BYTES = 32 * 1024;

/** One image a device should run: the package metadata, its signature, and where to download the payload. */
export const TargetImage = Type.Object(
  {
    imageId: Guid,
    componentId: Guid,
    name: Text({ minLength: 1, maxLength: 100 }),
    version: Text({ minLength: 1, maxLength: 64 }),
    type: Type.Union([Type.Literal('Application'), Type.Literal('BoardConfig'), Type.Literal('OS')]),
    sha256: Sha256Hex,
    size: Type.Integer({ minimum: 0 }),
    /** base64 ECDSA P-256 signature over the metadata (contract/image/PACKAGE.md). */
    signature: Text({ minLength: 86, maxLength: 88 }),
    /** HTTPS URL of the payload; the device downloads it with its certificate (mutual TLS). */
    url: Type.String({ minLength: 1, maxLength: 500, pattern: '^https://[^\\x00]*$' }),
  },
  { additionalProperties: false },
);
export type TargetImage = Static<typeof TargetImage>;

/**
 * devices/{id}/down/update — QoS 1, service -> device: every image the device should run (OS first). Sent after
 * each status report and whenever the target changes. Images the device already runs need no action.
 */
export const UpdateTarget = Type.Object(
  {
    v: Type.Literal(1),
    /** The deployment that asks for the applications; null when only the OS feed applies. */
    deploymentId: Type.Union([Guid, Type.Null()]),
    images: Type.Array(TargetImage, { maxItems: 32 }),
    /** Wait a random time up to this before downloading, so a fleet does not download at once. */
    delayWindowSeconds: Type.Integer({ minimum: 0, maximum: 86400 }),
  },
  { additionalProperties: false },
);
export type UpdateTarget = Static<typeof UpdateTarget>;

export const UPDATE_STATES = ['pending', 'downloading', 'installing', 'installed', 'failed', 'rejected', 'already-installed'] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** devices/{id}/up/update-status — QoS 1, device -> service: how one image of its target is coming along. */
export const UpdateStatus = Type.Object(
  {
    v: Type.Literal(1),
    deploymentId: Type.Union([Guid, Type.Null()]),
    imageId: Guid,
    state: Type.Union(UPDATE_STATES.map((s) => Type.Literal(s))),
    /** Why it failed or was rejected (e.g. "signature", "sha256"). */
    reason: Type.Optional(Text({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type UpdateStatus = Static<typeof UpdateStatus>;

export const DEVICE_ERROR_CODES = ['BAD_PAYLOAD', 'UNKNOWN_TOPIC', 'FORBIDDEN', 'INTERNAL'] as const;
export type DeviceErrorCode = (typeof DEVICE_ERROR_CODES)[number];

/** devices/{id}/down/error — QoS 1, service -> device: why a message of the device was refused. */
export const ErrorReply = Type.Object(
  {
    v: Type.Literal(1),
    code: Type.Union(DEVICE_ERROR_CODES.map((c) => Type.Literal(c))),
    message: Text({ maxLength: 500 }),
    /** The topic of the refused message. */
    topic: Text({ maxLength: 300 }),
  },
  { additionalProperties: false },
);
export type ErrorReply = Static<typeof ErrorReply>;

/** Largest MQTT packet the broker accepts (bytes); larger ones close the connection. */
export const MAX_PACKET_BYTES = 64 * 1024;
/** Most topic filters in one SUBSCRIBE. */
export const MAX_TOPICS_PER_SUBSCRIBE = 8;
/** Keep-alive the device asks for (s); the broker refuses 0 and anything above MAX_KEEPALIVE_SECONDS. */
export const DEFAULT_KEEPALIVE_SECONDS = 60;
export const MAX_KEEPALIVE_SECONDS = 1200;
