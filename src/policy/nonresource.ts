// Non-resource paths every agent may read: discovery, OpenAPI, version and health. Paths are expected
// normalised by the caller; anything odd (dot segments, encodings, doubled slashes) is not on the list.
const EXACT = new Set(['/api', '/apis', '/version', '/healthz', '/readyz', '/livez', '/openapi/v2', '/openapi/v3']);
const PREFIXES = ['/api/', '/apis/', '/openapi/v3/', '/healthz/', '/readyz/', '/livez/'];
const SAFE = /^\/[A-Za-z0-9._\-/]*$/;

export function isDiscoveryPath(path: string | undefined, verb: string): boolean {
  if (!path || (verb !== 'get' && verb !== 'head')) return false;
  const p = path.split('?')[0]!.replace(/\/$/, '') || '/';
  if (!SAFE.test(p) || p.includes('//') || /(^|\/)\.\.?(\/|$)/.test(p)) return false;
  return EXACT.has(p) || PREFIXES.some((x) => p.startsWith(x));
}
