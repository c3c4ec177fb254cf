// What a request does beyond its object: the options that change its effect (selectors, propagation,
// grace period, preconditions, field manager, exec command, ...) and, for a deletecollection, the objects
// it removes. Both are rendered as flat, stable strings, so the fingerprint hashes exactly what an
// approver is shown. Options come from the proxy (src/proxy/request-options.ts, typed JSON names) or the
// webhook (AdmissionReview request.options: CreateOptions, PatchOptions, DeleteOptions, PodExecOptions).
import type { CollectionItem } from '../policy/types.js';

/** Keys that are not options of the effect: type metadata, and dryRun (fingerprinted on its own). */
const NOT_EFFECT = new Set(['kind', 'apiVersion', 'dryRun']);

/** Options that choose which objects a collection request covers (shown as "where ..."). */
export const SELECTOR_OPTIONS: ReadonlySet<string> = new Set(['labelSelector', 'fieldSelector', 'shardSelector']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function flatten(prefix: string, v: unknown, out: Map<string, string>): void {
  if (v === undefined || v === null || v === '') return;
  if (Array.isArray(v)) {
    if (v.length) out.set(prefix, JSON.stringify(v)); // argv and port lists: order kept, unambiguous
  } else if (isObj(v)) {
    for (const [k, x] of Object.entries(v)) flatten(`${prefix}.${k}`, x, out);
  } else {
    out.set(prefix, typeof v === 'string' ? v : JSON.stringify(v));
  }
}

/**
 * The request's effect-changing options as `key -> value` strings, keys sorted; nested objects become
 * dotted keys (`preconditions.uid`), lists their JSON. Empty values are left out (the API server treats
 * an empty string like an absent option).
 */
export function effectOptions(options: Record<string, unknown> | undefined): Record<string, string> {
  const flat = new Map<string, string>();
  for (const [k, v] of Object.entries(options ?? {})) if (!NOT_EFFECT.has(k)) flatten(k, v, flat);
  return Object.fromEntries([...flat].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `namespace/name` (or `name`), how an item is named to approvers. */
export function itemLabel(item: CollectionItem, inNamespace?: string): string {
  return item.namespace && item.namespace !== inNamespace ? `${item.namespace}/${item.name}` : item.name;
}

/** The objects a deletecollection removes, sorted and without duplicates (order of the list is not identity). */
export function collectionSet(items: readonly CollectionItem[] | undefined): CollectionItem[] | undefined {
  if (!items) return undefined;
  const byKey = new Map<string, CollectionItem>();
  for (const i of items) {
    const item: CollectionItem = { name: i.name, ...(i.namespace ? { namespace: i.namespace } : {}), ...(i.uid ? { uid: i.uid } : {}) };
    byKey.set(JSON.stringify([item.namespace ?? '', item.name, item.uid ?? '']), item);
  }
  return [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, i]) => i);
}

/** CollectionItems from listed objects (their metadata namespace, name and uid); objects without a name are skipped. */
export function collectionItemsOf(objects: readonly unknown[]): CollectionItem[] {
  const out: CollectionItem[] = [];
  for (const o of objects) {
    const meta = isObj(o) && isObj(o.metadata) ? o.metadata : undefined;
    if (!meta || typeof meta.name !== 'string' || !meta.name) continue;
    out.push({
      name: meta.name,
      ...(typeof meta.namespace === 'string' && meta.namespace ? { namespace: meta.namespace } : {}),
      ...(typeof meta.uid === 'string' && meta.uid ? { uid: meta.uid } : {}),
    });
  }
  return out;
}
