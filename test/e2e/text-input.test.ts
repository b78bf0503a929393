/**
 * Text that no database can store (a NUL, U+0000) is refused where it enters, with an error naming the field, and
 * costs nothing else: a device's message gets BAD_PAYLOAD on down/error (its stored state stays as it was, the
 * connection keeps serving; an error event is refused alone), a GraphQL mutation gets BAD_USER_INPUT (nothing is
 * stored). Before, the SQL statement failed: the device's report was never acknowledged (so it was sent again and
 * again) and GraphQL answered an internal error.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { getNamedType, getNullableType, isEnumType, isInputObjectType, isListType, isNonNullType, isScalarType, type GraphQLArgument, type GraphQLInputType, type GraphQLObjectType } from 'graphql';
import type { ErrorReply } from '../../contract/mqtt/messages.js';
import { upTopic } from '../../contract/mqtt/topics.js';
import { EmulatedDevice, type IdentityFile } from '../../device-agent/index.js';
import { MemoryErrorQueueStore } from '../../device-agent/error-queue.js';
import { buildGatewaySchema } from '../../server/schema/executable-schema.js';
import { TEST_DATABASES } from '../db.js';
import { errorCodes, gql, gqlOk, startTestService, until, type TestService } from '../harness.js';
import { claim, createTenant, manufactureDevices, type Tenant } from './certificate-support.js';

const APP = { componentId: '11111111-2222-4333-8444-555555555555', imageId: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', name: 'app', version: '1.0' };
const NUL = '\u0000';

/** One call of a query or mutation field: every argument filled in, exactly one string or ID among them holding a NUL. */
interface Probe {
  readonly operation: 'query' | 'mutation';
  readonly field: string;
  /** Where the NUL is, e.g. `input.description`. */
  readonly at: string;
  readonly document: string;
  readonly variables: Record<string, unknown>;
}

/** Valid strings for arguments with a format, so that a call gets as far as the argument holding the NUL. */
const FORMATTED: Readonly<Record<string, string>> = {
  sha256: 'ab'.repeat(32),
  version: '1.0',
  verificationCode: 'code-1',
  publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
};

/**
 * A valid-looking value of `type` (a UUID for IDs, a device ID for arguments naming one), or the same with a NUL in the
 * string at `target` (a dotted path below this value; '' is the value itself). Also returns every string path.
 */
function fill(type: GraphQLInputType, name: string, deviceId: string, target: string | null): { value: unknown; paths: string[] } {
  const inner = getNullableType(type);
  if (isListType(inner)) {
    const item = fill(inner.ofType as GraphQLInputType, name, deviceId, target);
    return { value: [item.value], paths: item.paths };
  }
  if (isInputObjectType(inner)) {
    const value: Record<string, unknown> = {};
    const paths: string[] = [];
    for (const f of Object.values(inner.getFields())) {
      const below = target !== null && (target === f.name || target.startsWith(`${f.name}.`)) ? target.slice(f.name.length + 1) : null;
      const filled = fill(f.type, f.name, deviceId, below);
      paths.push(...filled.paths.map((p) => (p ? `${f.name}.${p}` : f.name)));
      // Optional fields are sent only when they hold the NUL, so each is reached on its own.
      if (isNonNullType(f.type) || below !== null) value[f.name] = filled.value;
    }
    return { value, paths };
  }
  if (isEnumType(inner)) return { value: inner.getValues()[0]?.value, paths: [] };
  if (isScalarType(inner)) {
    if (inner.name === 'Int' || inner.name === 'Float') return { value: 1, paths: [] };
    if (inner.name === 'Boolean') return { value: false, paths: [] };
    if (inner.name === 'DateTime') return { value: new Date().toISOString(), paths: [] };
    const plain = inner.name === 'ID' ? (/device/i.test(name) ? deviceId : randomUUID()) : (FORMATTED[name] ?? 'text');
    return { value: target === '' ? `${plain}${NUL}` : plain, paths: [''] };
  }
  throw new Error(`no value for ${String(type)}`);
}

function probes(root: GraphQLObjectType, operation: 'query' | 'mutation', deviceId: string): Probe[] {
  return Object.values(root.getFields()).flatMap((field) => {
    const args: readonly GraphQLArgument[] = field.args;
    const targets = args.flatMap((a) => fill(a.type, a.name, deviceId, null).paths.map((p) => (p ? `${a.name}.${p}` : a.name)));
    const selection = isScalarType(getNamedType(field.type)) || isEnumType(getNamedType(field.type)) ? '' : ' { __typename }';
    return targets.map((at): Probe => {
      const variables: Record<string, unknown> = {};
      for (const a of args) {
        const below = at === a.name || at.startsWith(`${a.name}.`) ? at.slice(a.name.length + 1) : null;
        if (isNonNullType(a.type) || below !== null) variables[a.name] = fill(a.type, a.name, deviceId, below).value;
      }
      const used = args.filter((a) => a.name in variables);
      const params = used.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
      const call = used.map((a) => `${a.name}: $${a.name}`).join(', ');
      return {
        operation,
        field: field.name,
        at,
        document: `${operation}${params ? `(${params})` : ''} { ${field.name}${call ? `(${call})` : ''}${selection} }`,
        variables,
      };
    });
  });
}

describe.each(TEST_DATABASES)('text with a NUL character on %s', (kind) => {
  let svc: TestService;
  let tenant: Tenant;
  let identity: IdentityFile;
  let device: EmulatedDevice;

  beforeAll(async () => {
    svc = await startTestService(kind);
    tenant = await createTenant(svc, `Text ${kind}`);
    [identity] = (await manufactureDevices(svc, 1)) as [IdentityFile];
    await claim(svc, tenant, [identity]);
    device = new EmulatedDevice({
      identity,
      brokerUrl: svc.mqttUrl,
      installedImages: [APP],
      backoff: { baseMs: 100, capMs: 500 },
      errorReports: { store: new MemoryErrorQueueStore() },
    });
    const online = new Promise<void>((resolve) => device.once('online', () => resolve()));
    device.start();
    await online;
  });
  afterAll(async () => {
    await device?.stop();
    await svc?.dispose();
  });

  const storedStatus = async () =>
    (
      await gqlOk<{ device: { status: { osVersion: string | null; installedImages: Array<{ name: string | null }> } } }>(
        svc.graphqlUrl,
        tenant.key,
        `query($id: ID!) { device(id: $id) { status { osVersion installedImages { name } } } }`,
        { id: identity.deviceId },
      )
    ).device.status;

  test('a device message with a NUL in any text field gets BAD_PAYLOAD naming the field; its stored state is kept and the connection serves on', async () => {
    await until(async () => (await storedStatus()).osVersion !== null, 10_000, 'the first status report');
    const before = await storedStatus();
    const replies: ErrorReply[] = [];
    device.on('error-reply', (r) => replies.push(r));
    const status = { v: 1, osVersion: 'sphere-os 1', uptimeSeconds: 5, installedImages: [APP] };
    const sent: Array<[topic: string, payload: unknown, field: string]> = [
      [upTopic(device.deviceId, 'status'), { ...status, osVersion: `1.0${NUL}evil` }, '/osVersion'],
      [upTopic(device.deviceId, 'status'), { ...status, installedImages: [{ ...APP, name: `app${NUL}` }] }, '/installedImages/0/name'],
      [upTopic(device.deviceId, 'update-status'), { v: 1, deploymentId: null, imageId: APP.imageId, state: 'failed', reason: `disk${NUL}full` }, '/reason'],
    ];
    for (const [topic, payload] of sent) await device.publishRaw(topic, JSON.stringify(payload), 1);
    await until(() => replies.length >= sent.length, 10_000, 'an error reply per message');
    expect(replies.splice(0)).toEqual(sent.map(([topic, , field]) => ({ v: 1, code: 'BAD_PAYLOAD', message: `${field}: must not contain NUL characters`, topic })));
    expect(device.state).toBe('online');
    expect(await storedStatus()).toEqual(before);

    // An error event is refused alone: the other events of its batch are stored.
    const now = new Date().toISOString();
    const event = (description: string) => ({ eventId: randomUUID(), category: 'OSCrash', count: 1, startTime: now, endTime: now, description });
    const [good, bad] = [event('kernel panic'), event(`panic${NUL}`)];
    const topic = upTopic(device.deviceId, 'error-reports');
    await device.publishRaw(topic, JSON.stringify({ v: 1, events: [good, bad] }), 1);
    await until(() => replies.length >= 1, 10_000, 'the error reply');
    expect(replies).toEqual([{ v: 1, code: 'BAD_PAYLOAD', message: `1 of 2 events refused: ${bad.eventId}: /description: must not contain NUL characters`, topic }]);
    const { errorReports } = await gqlOk<{ errorReports: { edges: Array<{ node: { eventId: string; description: string } }> } }>(
      svc.graphqlUrl,
      tenant.key,
      `query($d: ID!) { errorReports(filter: { deviceId: $d }) { edges { node { eventId description } } } }`,
      { d: device.deviceId },
    );
    expect(errorReports.edges.map((e) => e.node)).toEqual([{ eventId: good.eventId, description: 'kernel panic' }]);
    // The same connection still stores a good report.
    await device.publishRaw(upTopic(device.deviceId, 'status'), JSON.stringify({ ...status, osVersion: 'tab\tand\nnewline are stored' }), 1);
    expect((await storedStatus()).osVersion).toBe('tab\tand\nnewline are stored');
  });

  test('a GraphQL mutation with a NUL in a string input gets BAD_USER_INPUT naming the field and stores nothing', async () => {
    const products = async () => (await gqlOk<{ products: Array<{ name: string }> }>(svc.graphqlUrl, tenant.key, `{ products { name } }`)).products;
    const before = await products();
    const refused = await gql(svc.graphqlUrl, tenant.key, `mutation($name: String!) { createProduct(input: { name: $name }) { id } }`, { name: `Lamp${NUL}` });
    expect(errorCodes(refused)).toEqual(['BAD_USER_INPUT']);
    expect(refused.errors?.[0]?.message).toBe('name: must not contain control characters');
    const described = await gql(svc.graphqlUrl, tenant.key, `mutation($d: String) { createProduct(input: { name: "Lamp", description: $d }) { id } }`, {
      d: `bright${NUL}`,
    });
    expect(errorCodes(described)).toEqual(['BAD_USER_INPUT']);
    expect(described.errors?.[0]?.message).toBe('description: must not contain NUL characters');
    expect(await products()).toEqual(before);

    const revoked = await gql(svc.graphqlUrl, tenant.key, `mutation($id: ID!, $r: String!) { revokeDevice(deviceId: $id, reason: $r) { id } }`, {
      id: device.deviceId,
      r: `stolen${NUL}`,
    });
    expect(errorCodes(revoked)).toEqual(['BAD_USER_INPUT']);
    expect(revoked.errors?.[0]?.message).toBe('reason: must not contain NUL characters');
    expect(device.state).toBe('online');
  });

  test('no query or mutation answers an internal error to a NUL in any string or ID argument, whoever calls', async () => {
    const schema = await buildGatewaySchema();
    const all = [...probes(schema.getQueryType()!, 'query', device.deviceId), ...probes(schema.getMutationType()!, 'mutation', device.deviceId)];
    const answers: string[] = [];
    for (const key of [tenant.key, svc.running.adminKey]) {
      for (const p of all) {
        const r = await gql(svc.graphqlUrl, key, p.document, p.variables);
        answers.push(`${p.field}(${p.at}): ${errorCodes(r).join(',') || 'ok'}`);
      }
    }
    // Enough calls to mean something, each one well-formed (a malformed one would test nothing), none internal.
    expect(all.length).toBeGreaterThan(60);
    expect(answers.filter((a) => /GRAPHQL_VALIDATION_FAILED|GRAPHQL_PARSE_FAILED|INTERNAL_SERVER_ERROR|\?/.test(a))).toEqual([]);
    expect(device.state).toBe('online');
  });
});
