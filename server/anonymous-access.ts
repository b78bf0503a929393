/**
 * A caller without a key may ask `health` (and `__typename`) and nothing else: no data, no introspection, no
 * subscriptions. The domain would refuse most fields anyway; refusing the whole operation up front also keeps
 * the schema out of view (introspection, and "Did you mean …" suggestions in validation errors).
 */
import { Kind, getOperationAST, type DocumentNode, type SelectionSetNode } from 'graphql';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from './context.js';
import { requestError } from './errors.js';

const ANONYMOUS_FIELDS: ReadonlySet<string> = new Set(['health', '__typename']);

export const AUTHENTICATION_REQUIRED = 'Authentication required: send an API key as "Authorization: Bearer <key>"';

function onlyAnonymousFields(selectionSet: SelectionSetNode, document: DocumentNode, seen: Set<string>): boolean {
  return selectionSet.selections.every((selection) => {
    if (selection.kind === Kind.FIELD) return ANONYMOUS_FIELDS.has(selection.name.value);
    if (selection.kind === Kind.INLINE_FRAGMENT) return onlyAnonymousFields(selection.selectionSet, document, seen);
    const name = selection.name.value;
    if (seen.has(name)) return true;
    seen.add(name);
    const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === name);
    return fragment?.kind === Kind.FRAGMENT_DEFINITION && onlyAnonymousFields(fragment.selectionSet, document, seen);
  });
}

/** May a caller without a key run this operation? Only a query selecting nothing but `health`/`__typename`. */
export function isAnonymousOperation(document: DocumentNode, operationName: string | null | undefined): boolean {
  const operation = getOperationAST(document, operationName);
  return operation?.operation === 'query' && onlyAnonymousFields(operation.selectionSet, document, new Set());
}

const SUGGESTION = / ?Did you mean(.+?)\?$/;

/** Removes graphql's "Did you mean …?" hints, which would list field, type and enum names to a stranger. */
export const withoutSuggestions = (message: string): string => message.replace(SUGGESTION, '');

/**
 * Apollo plugin: refuses anonymous operations (HTTP 401) and strips suggestions from the errors anonymous callers
 * get (validation errors, and variables that do not coerce in the one operation they may run).
 */
export function anonymousAccessPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ contextValue }) {
      if (contextValue.actor !== null) return;
      return {
        async didResolveOperation({ document, operationName }) {
          if (!isAnonymousOperation(document, operationName)) throw requestError('UNAUTHENTICATED', AUTHENTICATION_REQUIRED, 401);
        },
        async willSendResponse({ response }) {
          const body = response.body;
          if (body.kind !== 'single' || !body.singleResult.errors) return;
          body.singleResult = {
            ...body.singleResult,
            errors: body.singleResult.errors.map((e) => ({ ...e, message: withoutSuggestions(e.message) })),
          };
        },
      };
    },
  };
}
