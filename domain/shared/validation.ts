/**
 * Input checks shared by every service, run before any side effect. Errors name the field (BAD_USER_INPUT with
 * `details.field`), as graphql-ws' validateMessage does.
 */
import { badInput } from './errors.js';
import { DEVICE_ID_PATTERN, isUuid } from './ids.js';

export const NAME_MAX_LENGTH = 50;
export const DESCRIPTION_MAX_LENGTH = 500;
/** Azure Sphere's limit for bulk calls (claim, assign, manufacture). */
export const MAX_BULK_ITEMS = 1000;

/**
 * The one character no text input may hold: neither database stores a NUL (U+0000) in text (PostgreSQL refuses
 * it, SQLite's parser ends the statement there), so it is refused before anything is stored. Other control
 * characters are stored as given; the MQTT contract has the same rule (contract/mqtt/messages.ts TEXT_PATTERN).
 */
export const hasNul = (text: string): boolean => text.includes('\u0000');
export const NUL_REFUSAL = 'must not contain NUL characters';
/** The same rule as a JSON Schema pattern, for the schemas the domain checks (the attestation statement). */
export const NO_NUL_PATTERN = '^[^\\x00]*$';

/** Any text to be stored: refused with a per-field error if it holds a NUL. */
export function refuseNul(field: string, text: string): string {
  if (hasNul(text)) throw badInput(field, NUL_REFUSAL);
  return text;
}

/** Control characters (C0 and DEL): a name is one line of visible text, so none may remain after trimming. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;

/** A display name: trimmed, 1..50 characters, no control characters (tabs and newlines included). */
export function requireName(field: string, value: unknown): string {
  if (typeof value !== 'string') throw badInput(field, 'must be a string');
  const name = value.trim();
  if (name.length < 1 || name.length > NAME_MAX_LENGTH) throw badInput(field, `must be 1..${NAME_MAX_LENGTH} characters`);
  if (CONTROL_CHARACTER.test(name)) throw badInput(field, 'must not contain control characters');
  return name;
}

/** Names are unique case-insensitively: this key is what the unique index holds. */
export const nameKeyOf = (name: string): string => name.toLowerCase();

/** An optional free text: trimmed, at most 500 characters, no NUL (tabs and newlines are text), '' when absent. */
export function optionalDescription(field: string, value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw badInput(field, 'must be a string');
  const text = value.trim();
  if (text.length > DESCRIPTION_MAX_LENGTH) throw badInput(field, `must be at most ${DESCRIPTION_MAX_LENGTH} characters`);
  return refuseNul(field, text);
}

export function requireUuid(field: string, value: unknown): string {
  if (typeof value !== 'string' || !isUuid(value.toLowerCase())) throw badInput(field, 'must be a UUID');
  return value.toLowerCase();
}

/** Device IDs are upper-case hex; a lower-case paste of the same ID is accepted. Null when malformed. */
export function normalizeDeviceId(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const id = value.trim().toUpperCase();
  return DEVICE_ID_PATTERN.test(id) ? id : null;
}

export function requireDeviceId(field: string, value: unknown): string {
  const id = normalizeDeviceId(value);
  if (!id) throw badInput(field, 'must be 128 hexadecimal characters');
  return id;
}

/** Bulk calls take 1..1000 items; the whole call is refused otherwise (nothing is half-done). */
export function requireBulkList<T>(field: string, items: readonly T[]): readonly T[] {
  if (!Array.isArray(items) || items.length < 1 || items.length > MAX_BULK_ITEMS) {
    throw badInput(field, `must hold 1..${MAX_BULK_ITEMS} items`);
  }
  return items;
}

export function requireOneOf<T extends string>(field: string, allowed: readonly T[], value: unknown): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw badInput(field, `must be one of ${allowed.join(', ')}`);
}
