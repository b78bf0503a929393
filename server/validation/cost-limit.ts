/**
 * A simple static cost, checked before anything runs, so one request cannot ask for millions of objects:
 *
 * - every object field costs 1, leaves cost nothing;
 * - what a field selects is multiplied by how many items it may return: its `first` argument (a literal, else the
 *   variable's default, else the largest page the domain serves, since validation cannot see variable values),
 *   or `DEFAULT_LIST_SIZE` for a list without `first`. A connection's `edges` are not multiplied again: `first`
 *   on the connection already counted them.
 *
 * `devices(first: 100) { edges { node { id product { name } } } }` costs 1 + 100 × (1 + 1 + 1) = 301.
 * Meta fields (introspection) cost nothing.
 */
import {
  GraphQLError,
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  type ASTVisitor,
  type FieldNode,
  type GraphQLNamedType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { MAX_PAGE_SIZE } from '../../domain/shared/pagination.js';

export const DEFAULT_MAX_COST = 10_000;
/** Assumed length of a list field that takes no `first` (products of a tenant, groups of a product…). */
export const DEFAULT_LIST_SIZE = 10;

function pageSizeOf(field: FieldNode, operation: OperationDefinitionNode): number | null {
  const arg = field.arguments?.find((a) => a.name.value === 'first');
  if (!arg) return null;
  const value = arg.value;
  if (value.kind === Kind.INT) return Math.max(0, Number.parseInt(value.value, 10));
  if (value.kind === Kind.VARIABLE) {
    const def = operation.variableDefinitions?.find((v) => v.variable.name.value === value.name.value);
    if (def?.defaultValue?.kind === Kind.INT) return Math.max(0, Number.parseInt(def.defaultValue.value, 10));
    return MAX_PAGE_SIZE;
  }
  return MAX_PAGE_SIZE; // null or a wrong kind: validation reports it; count the worst case meanwhile
}

export function costLimitRule(maxCost: number = DEFAULT_MAX_COST): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const schema = context.getSchema();
    const fragmentCosts = new Map<string, number>();
    const inProgress = new Set<string>();
    let operation: OperationDefinitionNode | null = null;

    const costOf = (selectionSet: SelectionSetNode, parent: GraphQLNamedType | null | undefined): number => {
      let total = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) total += fieldCost(selection, parent);
        else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
          total += costOf(selection.selectionSet, type);
        } else total += fragmentCost(selection.name.value);
        if (total > maxCost) return total; // already refused: stop walking a hostile document
      }
      return total;
    };

    const fieldCost = (field: FieldNode, parent: GraphQLNamedType | null | undefined): number => {
      if (field.name.value.startsWith('__') || !field.selectionSet) return 0;
      // Unknown fields are reported by graphql's own rules; count them as plain objects meanwhile.
      const def = parent && isObjectType(parent) ? parent.getFields()[field.name.value] : undefined;
      const type = def ? getNullableType(def.type) : undefined;
      const named = def ? getNamedType(def.type) : undefined;
      const inConnection = parent?.name.endsWith('Connection') ?? false;
      const pageSize = operation ? pageSizeOf(field, operation) : null;
      const multiplier = pageSize ?? (type && isListType(type) && !inConnection ? DEFAULT_LIST_SIZE : 1);
      return 1 + multiplier * costOf(field.selectionSet, named && isCompositeType(named) ? named : null);
    };

    const fragmentCost = (name: string): number => {
      const known = fragmentCosts.get(name);
      if (known !== undefined) return known;
      const fragment = context.getFragment(name);
      if (!fragment || inProgress.has(name)) return 0;
      inProgress.add(name);
      const cost = costOf(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value));
      inProgress.delete(name);
      fragmentCosts.set(name, cost);
      return cost;
    };

    return {
      OperationDefinition(node) {
        operation = node;
        // Fragment costs depend on the operation only through variable defaults; recount per operation.
        fragmentCosts.clear();
        const cost = costOf(node.selectionSet, schema.getRootType(node.operation));
        if (cost > maxCost) {
          const what = node.name ? `Operation "${node.name.value}"` : 'The operation';
          context.reportError(
            new GraphQLError(`${what} may return about ${cost} objects; the limit is ${maxCost}. Ask for smaller pages (first) or fewer nested lists.`, {
              nodes: [node],
            }),
          );
        }
      },
    };
  };
}
