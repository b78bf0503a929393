/**
 * The broker's edge mapping, done once: domain refusals become device-facing codes (contract/mqtt/messages.ts),
 * connection refusals become CONNACK return codes of MQTT 3.1.1 ([MQTT-3.2.2.3], table 3.1).
 */
import { isDomainError, type ErrorCode } from '../domain/shared/errors.js';
import type { DeviceErrorCode } from '../contract/mqtt/messages.js';

export const CONNACK = {
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  NOT_AUTHORIZED: 5,
} as const;
export type ConnackRefusalCode = (typeof CONNACK)[keyof typeof CONNACK];

/** A refusal the device is told about on `down/error`; anything else is the service's fault. */
export interface DeviceFacingError {
  readonly code: DeviceErrorCode;
  readonly message: string;
}

const DEVICE_CODE: Record<ErrorCode, DeviceErrorCode | null> = {
  BAD_USER_INPUT: 'BAD_PAYLOAD',
  CONFLICT: 'BAD_PAYLOAD',
  UNAUTHENTICATED: 'FORBIDDEN',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'FORBIDDEN',
  // Not the device's fault and worth a retry: the message is not acknowledged (see publish-flow.ts).
  INTERNAL_SERVER_ERROR: null,
};

/** The device-facing form of a domain refusal, or null when the error is internal (unknown errors included). */
export function deviceFacingError(error: unknown): DeviceFacingError | null {
  if (!isDomainError(error)) return null;
  const code = DEVICE_CODE[error.code];
  return code === null ? null : { code, message: error.message.slice(0, 500) };
}

/** An aedes callback error that carries a CONNACK return code (aedes reads `returnCode`, 2..5). */
export class ConnectRefusedError extends Error {
  override readonly name = 'ConnectRefusedError';
  constructor(
    readonly returnCode: ConnackRefusalCode,
    message: string,
  ) {
    super(message);
  }
}

/** Error text for logs: the message only, never an object that might carry key material or a payload. */
export const errorSummary = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));
