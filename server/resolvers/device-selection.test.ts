import { parse, type FragmentDefinitionNode, type OperationDefinitionNode, Kind, type FieldNode, type GraphQLObjectType } from 'graphql';
import { buildGatewaySchema } from '../schema/executable-schema.js';
import { DEVICE_FIELD_PARTS, devicePartsSelected, STATUS_FIELD_PARTS } from './device-selection.js';

/** The resolve info the `devices` field gets for this document (its field nodes and the fragments). */
function infoOf(query: string): { fieldNodes: FieldNode[]; fragments: Record<string, FragmentDefinitionNode> } {
  const document = parse(query);
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const fieldNodes = (operation?.selectionSet.selections ?? []).filter((s): s is FieldNode => s.kind === Kind.FIELD && s.name.value === 'devices');
  const fragments = Object.fromEntries(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  return { fieldNodes, fragments };
}

const partsOf = (query: string): string[] | undefined => devicePartsSelected(infoOf(query))?.sort();

describe('device parts a devices query selects', () => {
  test('every field of the schema\'s Device type says which parts it reads', async () => {
    const schema = await buildGatewaySchema();
    const device = schema.getType('Device') as GraphQLObjectType;
    expect(Object.keys(device.getFields()).filter((f) => !DEVICE_FIELD_PARTS.has(f))).toEqual([]);
    const status = schema.getType('DeviceStatus') as GraphQLObjectType;
    expect(Object.keys(status.getFields()).filter((f) => !STATUS_FIELD_PARTS.has(f))).toEqual([]);
  });

  test('only the parts under edges.node count; ids, cursors and totals need none', () => {
    expect(partsOf('{ devices(first: 50) { totalCount edges { cursor node { id status { online } } } pageInfo { endCursor } } }')).toEqual(['status.online']);
    expect(partsOf('{ devices { totalCount } }')).toEqual([]);
    expect(partsOf('{ devices { edges { node { id product { name } deviceGroup { id } certificateHealth } } } }')).toEqual([
      'certificateHealth',
      'deviceGroupId',
      'productId',
    ]);
  });

  test('fields in fragments, aliased or conditional, count too', () => {
    const q = `query($skip: Boolean!) { a: devices { e: edges { ...E } } devices { edges { node { ... on Device { revokedAt @skip(if: $skip) } } } } }
      fragment E on DeviceEdge { n: node { ...D } }
      fragment D on Device { claimedAt lastAttestation { at } }`;
    const info = infoOf(q);
    // Both `devices` fields of the operation, as graphql merges same-named fields; here as two infos.
    expect(devicePartsSelected({ fieldNodes: info.fieldNodes.slice(0, 1), fragments: info.fragments })?.sort()).toEqual(['claimedAt', 'lastAttestation']);
    expect(devicePartsSelected({ fieldNodes: info.fieldNodes.slice(1), fragments: info.fragments })).toEqual(['revokedAt']);
  });

  test('status fields narrow the status; its images count for Device.installedImages too', () => {
    expect(partsOf('{ devices { edges { node { status { online lastSeen reportedAt __typename } installedImages { name } } } } }')).toEqual([
      'status.installedImages',
      'status.lastSeenAt',
      'status.online',
      'status.statusReportedAt',
    ]);
    expect(partsOf('{ devices { edges { node { status { online somethingNew } } } } }')).toEqual(['status']);
  });

  test('an unknown field under node reads everything', () => {
    expect(partsOf('{ devices { edges { node { id somethingNew } } } }')).toBeUndefined();
  });
});
