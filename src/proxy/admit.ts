// The steps every agent request takes before anything is judged (plain requests and upgrades alike):
// refuse impersonation, parse and normalise, authenticate; and the policy attributes built from it.
import type { IncomingMessage } from 'node:http';
import type { RequestAttributes, UserInfo } from '../policy/types.js';
import type { EffectiveOptions } from './request-options.js';
import { AuthenticationUnavailableError } from './auth/index.js';
import { isObj, type Exchange, type ProxyContext } from './context.js';
import { impersonationAttempt } from './headers.js';
import { parseRequestInfo, RequestError, type RequestInfo } from './request-info.js';
import { kubeStatus, type KubeStatus } from './status.js';
import { checkServedMethod, checkUpgradable } from './subresources.js';

/**
 * Steps shared by plain requests and upgrades; returns the parsed request or a Status to answer with.
 * Requests the API server would not serve (a method a subresource does not take, an upgrade where no
 * protocol switches) are refused here, before anything is sent upstream.
 */
export async function admit(ctx: ProxyContext, req: IncomingMessage, ex: Exchange, upgrade: boolean): Promise<{ info: RequestInfo; user: UserInfo } | KubeStatus> {
  const imp = impersonationAttempt(req.headers);
  let info: RequestInfo;
  try {
    info = parseRequestInfo(ex.method, req.url ?? '/');
  } catch (err) {
    if (err instanceof RequestError) return kubeStatus(err.code, err.message, err.reason);
    throw err;
  }
  ex.info = info;
  ex.verbForMetrics = info.verb;
  let user: UserInfo | undefined;
  try {
    user = await ctx.auth.authenticate(req);
  } catch (err) {
    if (err instanceof AuthenticationUnavailableError) return kubeStatus(503, `airlock: authentication unavailable: ${err.message}`);
    throw err;
  }
  if (!user) return kubeStatus(401, 'Unauthorized', 'Unauthorized');
  ex.user = user;
  if (imp) return kubeStatus(403, `airlock: agents may not impersonate (header ${imp} refused)`, 'Forbidden');
  try {
    checkServedMethod(info, ex.method);
    if (upgrade) checkUpgradable(info);
    checkAnswerable(info, ex.method, req.headers.accept);
  } catch (err) {
    if (err instanceof RequestError) return kubeStatus(err.code, err.message, err.reason);
    throw err;
  }
  return { info, user };
}

/** Methods that change the cluster (unless dry run): recorded ahead of forwarding, and answered with what was written. */
export const MUTATING_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A write on one object answers with one object (or a Status). An Accept that takes only lists
 * (`as=PartialObjectMetadataList`, `as=...List`) makes kube-apiserver do the write and then fail to encode
 * its answer, a 406 after the fact: the agent, the recording and the budgets would read it as refused.
 * Refused here instead, before anything is done. A deletecollection answers with a list and may ask so.
 */
function checkAnswerable(info: RequestInfo, method: string, accept: string | undefined): void {
  if (!info.isResourceRequest || !MUTATING_METHODS.has(method) || (method === 'DELETE' && info.name === undefined)) return;
  const ranges = (accept ?? '').split(',').map((r) => r.trim()).filter(Boolean);
  if (ranges.length && ranges.every((r) => /;\s*as=[^;,]*List\s*(;|$)/i.test(r))) {
    throw new RequestError(406, 'NotAcceptable', `airlock: this ${method} acts on one object and answers with one object, but Accept asks only for a list (${ranges[0]}); nothing was sent`);
  }
}

/** The attributes the engine judges, with the options the API server will really apply (request-options.ts). */
export function baseAttributes(info: RequestInfo, user: UserInfo, verb: string, effective: EffectiveOptions): RequestAttributes {
  const attrs: RequestAttributes = {
    user,
    verb,
    isResourceRequest: info.isResourceRequest,
    apiGroup: info.apiGroup,
    apiVersion: info.apiVersion,
    resource: info.resource,
    via: 'proxy',
  };
  if (!info.isResourceRequest) attrs.path = info.path;
  if (info.subresource) attrs.subresource = info.subresource;
  if (info.namespace) attrs.namespace = info.namespace;
  if (info.name) attrs.name = info.name;
  if (effective.dryRun) attrs.dryRun = true;
  if (Object.keys(effective.options).length) attrs.options = effective.options;
  return attrs;
}

export async function namespaceLabels(ctx: ProxyContext, ns: string | undefined): Promise<Record<string, string> | undefined> {
  if (!ns || ctx.namespaceLabelTtlMs <= 0) return undefined;
  const hit = ctx.namespaceLabels.get(ns);
  if (hit && hit.expires > Date.now()) return hit.labels;
  // Read with the proxy's own identity: the labels are policy input, not something the agent may hide.
  const res = await ctx.upstream.json('GET', `/api/v1/namespaces/${encodeURIComponent(ns)}`, null, undefined, { maxBytes: 1024 * 1024, endBy: Date.now() + 5000 }).catch(() => undefined);
  const labels = res && res.status === 200 && isObj(res.body) ? ((res.body.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {}) : undefined;
  if (ctx.namespaceLabels.size > 10_000) ctx.namespaceLabels.clear();
  ctx.namespaceLabels.set(ns, { labels, expires: Date.now() + (labels ? ctx.namespaceLabelTtlMs : 2_000) });
  return labels;
}
