/**
 * Refuses operations nested deeper than `maxDepth` fields, before anything runs. Our graph has cycles
 * (Product.deviceGroups -> DeviceGroup.product -> …), so without a limit one small query could fan out without end.
 * Meta fields (`__typename`, `__schema`, `__type`) do not count: introspection is bounded by the schema, and the
 * standard introspection query is deeper than any sane limit for data.
 */
import { GraphQLError, Kind, type ASTVisitor, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';

export const DEFAULT_MAX_DEPTH = 10;

export function depthLimitRule(maxDepth: number = DEFAULT_MAX_DEPTH): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    // Each fragment is measured once, so a document that spreads fragments into each other many times costs
    // linear time, not exponential. A fragment being measured counts 0 (a cycle; NoFragmentCycles reports it).
    const fragmentDepths = new Map<string, number>();
    const inProgress = new Set<string>();

    const depthOf = (selectionSet: SelectionSetNode): number => {
      let deepest = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value.startsWith('__')) continue;
          deepest = Math.max(deepest, 1 + (selection.selectionSet ? depthOf(selection.selectionSet) : 0));
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(selection.selectionSet));
        } else {
          deepest = Math.max(deepest, fragmentDepth(selection.name.value));
        }
      }
      return deepest;
    };

    const fragmentDepth = (name: string): number => {
      const known = fragmentDepths.get(name);
      if (known !== undefined) return known;
      const fragment = context.getFragment(name);
      if (!fragment || inProgress.has(name)) return 0;
      inProgress.add(name);
      const depth = depthOf(fragment.selectionSet);
      inProgress.delete(name);
      fragmentDepths.set(name, depth);
      return depth;
    };

    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet);
        if (depth > maxDepth) {
          const what = node.name ? `Operation "${node.name.value}"` : 'The operation';
          context.reportError(new GraphQLError(`${what} is nested ${depth} levels deep; the limit is ${maxDepth}.`, { nodes: [node] }));
        }
      },
    };
  };
}
