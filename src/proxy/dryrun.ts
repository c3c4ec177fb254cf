// What the proxy judges for writes: the object as the API server would store it, never a patch's text.
//  - PATCH (json, merge, strategic, apply) and PUT: the same request with dryRun=All, sent as the agent;
//    the returned object is judged. The live object (GET as the agent) is the oldObject, and its
//    resourceVersion becomes a precondition of both the dry run and the real request, so the real write
//    applies to exactly the state that was judged (a concurrent change gives the agent a 409 Conflict).
//  - create: the submitted body (with provenance) is judged as is (see docs/proxy.md for why).
//  - delete: the live object is the oldObject. deletecollection: every live item matching the selectors.
import type { UserInfo } from '../policy/types.js';
import { target, type RequestInfo } from './request-info.js';
import type { JsonResponse, Upstream } from './upstream.js';

export type Obj = Record<string, unknown>;

/** An upstream answer the agent gets verbatim (the API server refused the dry run or the read). */
export class PassThrough {
  constructor(readonly response: JsonResponse) {}
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The live object a named request addresses, read as the agent; undefined when it does not exist. */
export async function liveObject(up: Upstream, info: RequestInfo, user: UserInfo): Promise<Obj | undefined> {
  const res = await up.json('GET', info.path, user);
  if (res.status === 404) return undefined;
  if (res.status >= 400 || !isObj(res.body)) throw new PassThrough(res);
  return res.body;
}

/** Sends the request with dryRun=All as the agent and returns the resulting object (as JSON). */
export async function dryRunObject(up: Upstream, method: string, info: RequestInfo, user: UserInfo, contentType: string, body: unknown): Promise<Obj> {
  const params = new URLSearchParams(info.params);
  params.set('dryRun', 'All');
  const data = Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await up.json(method, target({ path: info.path, query: params.toString() }), user, { contentType, data });
  if (res.status >= 400 || !isObj(res.body)) throw new PassThrough(res);
  return res.body;
}

/** Every item a deletecollection would remove (listed as the agent with the same selectors), paged. */
export async function collectionItems(up: Upstream, info: RequestInfo, user: UserInfo, maxItems = 10_000): Promise<Obj[]> {
  const items: Obj[] = [];
  let cont: string | undefined;
  do {
    const params = new URLSearchParams();
    for (const k of ['labelSelector', 'fieldSelector']) {
      const v = info.params.get(k);
      if (v) params.set(k, v);
    }
    params.set('limit', '500');
    if (cont) params.set('continue', cont);
    const res = await up.json('GET', target({ path: info.path, query: params.toString() }), user);
    if (res.status >= 400 || !isObj(res.body)) throw new PassThrough(res);
    const list = res.body as { items?: unknown[]; metadata?: { continue?: string } };
    for (const it of list.items ?? []) if (isObj(it)) items.push(it);
    if (items.length > maxItems) throw new Error(`deletecollection would remove more than ${maxItems} objects`);
    cont = list.metadata?.continue || undefined;
  } while (cont);
  return items;
}

/**
 * A protobuf create/update converted to JSON: the API server decodes the agent's protobuf in a dry run
 * (as the agent) and answers with JSON; the fields the server fills in are dropped so the JSON can be
 * judged and then forwarded in place of the protobuf.
 */
export async function protobufAsJson(up: Upstream, method: string, info: RequestInfo, user: UserInfo, raw: Buffer, live: Obj | undefined): Promise<Obj> {
  const obj = await dryRunObject(up, method, info, user, 'application/vnd.kubernetes.protobuf', raw);
  const meta = { ...((obj.metadata as Obj | undefined) ?? {}) };
  for (const k of ['uid', 'creationTimestamp', 'resourceVersion', 'generation', 'managedFields', 'selfLink']) delete meta[k];
  if (meta.generateName && method === 'POST') delete meta.name;
  const rv = resourceVersionOf(live);
  if (method === 'PUT' && rv) meta.resourceVersion = rv;
  return { ...obj, metadata: meta };
}

export function resourceVersionOf(obj: Obj | undefined): string | undefined {
  const rv = isObj(obj?.metadata) ? (obj.metadata as Obj).resourceVersion : undefined;
  return typeof rv === 'string' && rv ? rv : undefined;
}

/** The collection path for a named object path (…/pods/foo -> …/pods). */
export function collectionPath(info: RequestInfo): string {
  if (!info.name) return info.path;
  const p = info.path.replace(/\/$/u, '');
  return p.slice(0, p.lastIndexOf('/'));
}
