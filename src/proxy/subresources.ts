// What the API server serves on built-in subresources, so the proxy refuses the rest before any upstream
// call (a PATCH of pods/log would otherwise make the proxy read the log to judge the "patch"), and which
// requests may switch protocols at all.
import type { RequestInfo } from './request-info.js';
import { RequestError } from './request-info.js';

const READ = ['GET', 'HEAD'];
const READ_WRITE = ['GET', 'HEAD', 'PUT', 'PATCH'];
const STREAM = ['GET', 'HEAD', 'POST'];

/** Methods per subresource name, as kube-apiserver registers them for the built-in resources. */
const SERVED: Record<string, readonly string[] | 'any'> = {
  status: READ_WRITE,
  scale: READ_WRITE,
  approval: READ_WRITE,
  ephemeralcontainers: READ_WRITE,
  resize: READ_WRITE,
  log: READ,
  exec: STREAM,
  attach: STREAM,
  portforward: STREAM,
  proxy: 'any',
  token: ['POST'],
  eviction: ['POST'],
  binding: ['POST'],
  finalize: ['PUT'],
};

/** Subresources that switch protocols (exec, attach, port-forward over SPDY or WebSocket; proxies). */
export const UPGRADE_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);

/** Refuses a method the API server does not serve on a known subresource (405, as it would answer). */
export function checkServedMethod(info: RequestInfo, method: string): void {
  if (!info.isResourceRequest || !info.subresource) return;
  const served = SERVED[info.subresource];
  if (!served || served === 'any' || served.includes(method)) return;
  throw new RequestError(405, 'MethodNotAllowed', `the API server does not serve ${method} on ${info.resource}/${info.subresource}`);
}

/** Refuses an upgrade (Connection: Upgrade) anywhere but on a subresource that really switches protocols. */
export function checkUpgradable(info: RequestInfo): void {
  if (info.isResourceRequest && (info.verb === 'proxy' || (info.subresource && UPGRADE_SUBRESOURCES.has(info.subresource)))) return;
  throw new RequestError(400, 'BadRequest', 'airlock: protocol upgrades are accepted only for exec, attach, portforward and proxy subresources; send this request without Connection: Upgrade');
}
