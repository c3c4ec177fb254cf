// A reader's view of what masking let through: some objects are not the reader's to see at all (another
// agent's Approval), some lose fields (an echoed identity's internal extras). A view returns the object
// as the reader may see it, or undefined to hide it: hidden list items, table rows and watch events are
// left out of the response; a hidden single object is reduced to its kind and name.
import type { UnitRole } from './json-stream.js';

export type ObjectView = (obj: Record<string, unknown>) => unknown | undefined;

/** Returned for a unit the reader may not see: the JSON stream leaves it out. */
export const HIDDEN: unique symbol = Symbol('hidden');

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stub(obj: Record<string, unknown>): Record<string, unknown> {
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: meta.name } };
}

/** Applies a view to one masked unit of the given role. */
export function applyView(value: unknown, view: ObjectView, role: UnitRole): unknown {
  if (!isObj(value)) return value;
  // A watch event {type, object}: hidden with its object.
  if (value.kind === undefined && typeof value.type === 'string' && isObj(value.object)) {
    const seen = view(value.object);
    return seen === undefined ? HIDDEN : { ...value, object: seen };
  }
  if (role === 'row') {
    if (!isObj(value.object)) return value;
    const seen = view(value.object);
    return seen === undefined ? HIDDEN : { ...value, object: seen };
  }
  // A whole list masked at once (maskValue): items the reader may not see are left out.
  if (Array.isArray(value.items) && role === 'document') {
    value.items = value.items.flatMap((it) => {
      if (!isObj(it)) return [it];
      const seen = view(it);
      return seen === undefined ? [] : [seen];
    });
    return value;
  }
  const seen = view(value);
  if (seen !== undefined) return seen;
  return role === 'item' ? HIDDEN : stub(value);
}
