// Judging probes: the requests the proxy makes to learn what a write would do, before deciding.
//  - PATCH (json, merge, strategic, apply) and PUT: the same request with dryRun=All, sent as the agent;
//    the returned object is judged. The live object (GET as the agent) is the oldObject, and its
//    resourceVersion becomes a precondition of both the dry run and the real request, so the real write
//    applies to exactly the state that was judged (a concurrent change gives the agent a 409 Conflict).
//  - create: the submitted body (with provenance) is judged as is (see docs/proxy.md for why); a protobuf
//    create or update is judged as the dry run of the agent's own (stamped) bytes, which are then forwarded.
//  - delete: the live object is the oldObject. deletecollection: every live item matching the selectors.
// Probes are side-effect free and sent as the agent (so RBAC still limits them); their answers never
// reach the agent except through the response gate (a failed probe is a ProbeFailure, shown masked).
import type { OutgoingHttpHeaders } from 'node:http';
import type { UserInfo } from '../policy/types.js';
import { isObj } from './context.js';
import { target, type RequestInfo } from './request-info.js';
import type { JsonResponse, Upstream } from './upstream.js';

export type Obj = Record<string, unknown>;

/** A probe the API server refused (or answered with something that is not an object). */
export interface ProbeFailure {
  failed: JsonResponse;
}

export type Probe<T> = { value: T } | ProbeFailure;

export function probeFailed<T>(p: Probe<T>): p is ProbeFailure {
  return 'failed' in p;
}

/** Everything a probe needs: the upstream, the agent, and the proxied token for this request. */
export interface ProbeContext {
  up: Upstream;
  user: UserInfo;
  /** Identity headers for a probe of this request (proxy credentials + impersonation + proxied token). */
  identity: OutgoingHttpHeaders;
  /** When the request's deadline passes (epoch ms): probes end by then. */
  endBy?: number;
}

/** The live object a named request addresses, read as the agent; undefined when it does not exist. */
export async function liveObject(p: ProbeContext, info: RequestInfo): Promise<Probe<Obj | undefined>> {
  const res = await p.up.json('GET', info.path, p.identity, undefined, { endBy: p.endBy });
  if (res.status === 404) return { value: undefined };
  if (res.status >= 400 || !isObj(res.body)) return { failed: res };
  return { value: res.body };
}

/** Sends the request with dryRun=All as the agent and returns the resulting object (as JSON). */
export async function dryRunObject(p: ProbeContext, method: string, info: RequestInfo, contentType: string, body: unknown): Promise<Probe<Obj>> {
  const params = new URLSearchParams(info.params);
  params.set('dryRun', 'All');
  const data = Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await p.up.json(method, target({ path: info.path, query: params.toString() }), p.identity, { contentType, data }, { endBy: p.endBy });
  if (res.status >= 400 || !isObj(res.body)) return { failed: res };
  return { value: res.body };
}

/**
 * Every item a deletecollection would remove, listed as the agent with the list options the API server
 * will use (selectors, resourceVersion; one page when the agent set a limit, else every page).
 */
export async function collectionItems(p: ProbeContext, info: RequestInfo, listQuery: URLSearchParams, maxItems = 10_000): Promise<Probe<Obj[]>> {
  const items: Obj[] = [];
  const onePage = listQuery.has('limit');
  let cont: string | undefined = listQuery.get('continue') ?? undefined;
  do {
    const params = new URLSearchParams(listQuery);
    if (!onePage) params.set('limit', '500');
    if (cont) params.set('continue', cont);
    const res = await p.up.json('GET', target({ path: info.path, query: params.toString() }), p.identity, undefined, { endBy: p.endBy });
    if (res.status >= 400 || !isObj(res.body)) return { failed: res };
    const list = res.body as { items?: unknown[]; metadata?: { continue?: string } };
    for (const it of list.items ?? []) if (isObj(it)) items.push(it);
    if (items.length > maxItems) throw new Error(`deletecollection would remove more than ${maxItems} objects`);
    cont = onePage ? undefined : list.metadata?.continue || undefined;
  } while (cont);
  return { value: items };
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
