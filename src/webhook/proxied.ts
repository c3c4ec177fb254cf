// Which AdmissionRequests the proxy already judged: those whose airlock.dev/proxied extra is a token
// (src/identity/proxied-token.ts) signed for exactly this request. Adapts the AdmissionRequest to the
// attributes the token binds.
import { PROXIED_EXTRA_KEY, proxiedVerifier, type AdmittedRequest, type ProxiedVerdict } from '../identity/proxied-token.js';
import type { AdmissionRequest } from './admission.js';

/** The attributes of the request as the client sent it (matchPolicy Equivalent may convert resource/version). */
export function admittedRequest(r: AdmissionRequest): AdmittedRequest {
  const gvr = r.requestResource ?? r.resource;
  const subresource = r.requestResource ? r.requestSubResource : r.subResource;
  const meta = (r.object?.metadata ?? undefined) as { generateName?: unknown } | undefined;
  const generateName = r.operation === 'CREATE' && typeof meta?.generateName === 'string' && meta.generateName ? meta.generateName : undefined;
  return {
    user: { username: r.userInfo.username ?? '', ...(r.userInfo.uid ? { uid: r.userInfo.uid } : {}), groups: r.userInfo.groups ?? [] },
    operation: r.operation,
    apiGroup: gvr.group ?? '',
    apiVersion: gvr.version,
    resource: gvr.resource,
    ...(subresource ? { subresource } : {}),
    ...(r.namespace ? { namespace: r.namespace } : {}),
    ...(r.name ? { name: r.name } : {}),
    ...(generateName ? { generateName } : {}),
    dryRun: r.dryRun === true,
  };
}

/** Verdict on one AdmissionRequest: exempt only when its single airlock.dev/proxied value verifies for it. */
export function proxiedCheck(key: Buffer, now?: () => number): (r: AdmissionRequest) => ProxiedVerdict {
  const verify = proxiedVerifier(key, now);
  return (r) => {
    const extra = r.userInfo.extra;
    const values = extra && typeof extra === 'object' && Object.hasOwn(extra, PROXIED_EXTRA_KEY) ? extra[PROXIED_EXTRA_KEY] : undefined;
    if (values !== undefined && !Array.isArray(values)) return { ok: false, reason: 'malformed extra' };
    return verify(values, admittedRequest(r));
  };
}
