/**
 * Which parts of each device a `devices` query shows, so the listing reads only those columns. A page of 50
 * devices with every column costs several times a page of the columns a client asked for.
 *
 * Conservative: every Device field named anywhere under `edges { node { … } }` counts (through fragments, and
 * whatever its @skip/@include says); a field this table does not know means "read everything".
 */
import { Kind, type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import type { DeviceViewPart } from '../../domain/devices/device.views.js';

/** What each Device field (and its field resolver) reads of the DeviceView it resolves from. */
export const DEVICE_FIELD_PARTS: ReadonlyMap<string, readonly DeviceViewPart[]> = new Map<string, readonly DeviceViewPart[]>([
  ['__typename', []],
  ['id', []],
  ['claimedAt', ['claimedAt']],
  ['manufacturedAt', ['manufacturedAt']],
  ['product', ['productId']],
  ['deviceGroup', ['deviceGroupId']],
  // Narrowed to the status fields selected (STATUS_FIELD_PARTS) when they are all known.
  ['status', ['status']],
  ['identityCertificate', ['identityCertificate']],
  ['certificate', ['certificate']],
  ['lastAttestation', ['lastAttestation']],
  ['certificateHealth', ['certificateHealth']],
  ['revokedAt', ['revokedAt']],
  ['revocationReason', ['revocationReason']],
  // schema/updates.graphql: the status's images, and what the device should run (looked up by id).
  ['installedImages', ['status.installedImages']],
  ['targetImages', []],
  ['updateState', []],
]);

/** What each DeviceStatus field (and its field resolver) reads of the status. */
export const STATUS_FIELD_PARTS: ReadonlyMap<string, readonly DeviceViewPart[]> = new Map<string, readonly DeviceViewPart[]>([
  ['__typename', []],
  ['online', ['status.online']],
  ['lastSeen', ['status.lastSeenAt']],
  ['connectedSince', ['status.connectedSince']],
  ['connectionSeq', ['status.connectionSeq']],
  ['remoteAddress', ['status.remoteAddress']],
  ['osVersion', ['status.osVersion']],
  ['uptimeSeconds', ['status.uptimeSeconds']],
  ['installedImages', ['status.installedImages']],
  ['reportedAt', ['status.statusReportedAt']],
]);

type Fragments = GraphQLResolveInfo['fragments'];

/** Calls `visit` for every field of a selection set, fragments expanded (each named fragment once). */
function forEachField(selectionSet: SelectionSetNode | undefined, fragments: Fragments, visit: (field: FieldNode) => void, seen = new Set<string>()): void {
  for (const selection of selectionSet?.selections ?? []) {
    if (selection.kind === Kind.FIELD) visit(selection);
    else if (selection.kind === Kind.INLINE_FRAGMENT) forEachField(selection.selectionSet, fragments, visit, seen);
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment: FragmentDefinitionNode | undefined = fragments[selection.name.value];
      forEachField(fragment?.selectionSet, fragments, visit, seen);
    }
  }
}

/** The parts the selection of a DeviceConnection field reads; undefined: all of them. */
export function devicePartsSelected(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>): DeviceViewPart[] | undefined {
  const parts = new Set<DeviceViewPart>();
  let unknown = false;
  const statusParts = (status: FieldNode): readonly DeviceViewPart[] => {
    const selected: DeviceViewPart[] = [];
    let all = false;
    forEachField(status.selectionSet, info.fragments, (field) => {
      const known = STATUS_FIELD_PARTS.get(field.name.value);
      if (known) selected.push(...known);
      else all = true;
    });
    return all ? ['status'] : selected;
  };
  const inNode = (field: FieldNode): void => {
    const known = field.name.value === 'status' ? statusParts(field) : DEVICE_FIELD_PARTS.get(field.name.value);
    if (known) for (const part of known) parts.add(part);
    else unknown = true;
  };
  for (const connection of info.fieldNodes) {
    forEachField(connection.selectionSet, info.fragments, (edges) => {
      if (edges.name.value !== 'edges') return;
      forEachField(edges.selectionSet, info.fragments, (node) => {
        if (node.name.value === 'node') forEachField(node.selectionSet, info.fragments, inNode);
      });
    });
  }
  return unknown ? undefined : [...parts];
}
