// Request understanding for the agent proxy, modelled on kube-apiserver's RequestInfoFactory: which API
// group/version/resource/subresource/namespace/name/verb a request addresses. Pure: no I/O.
//
// Normalisation rule: the proxy judges one canonical path and forwards exactly that string. The raw path
// is split on "/", each segment is percent-decoded once, segments that are empty (`//`), "." or ".." are
// refused, as is any encoded "/", "\\", "%" or NUL and any control character; the segments are then
// re-encoded canonically. What the API server routes on (the decoded path) is therefore exactly what was
// judged, whatever spelling the client chose.

import type { ResourceCoordinates } from '../policy/types.js';

export class RequestError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export interface RequestInfo extends ResourceCoordinates {
  /** Canonical path (what is judged and forwarded). */
  path: string;
  /** Canonical query string without the leading "?" (re-serialised from the parsed parameters). */
  query: string;
  params: URLSearchParams;
  isResourceRequest: boolean;
  apiPrefix?: 'api' | 'apis';
  /** ?watch=true on a collection, or the legacy /watch/ prefix. */
  watch: boolean;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);
/** Subresources that open a stream to a container (judged as `create`, as RBAC does since 1.31). */
export const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

const METHOD_VERBS: Record<string, string> = {
  POST: 'create',
  GET: 'get',
  HEAD: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** Go's strconv.ParseBool, which kube-apiserver uses for ?watch=. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function bad(message: string): RequestError {
  return new RequestError(400, 'BadRequest', message);
}

// Characters left unencoded in a canonical segment: RFC 3986 unreserved plus sub-delims, ":" and "@".
function encodeSegment(s: string): string {
  return s.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/gu, (c) =>
    Array.from(Buffer.from(c, 'utf8'), (b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join(''),
  );
}

/** Splits and validates a raw request path; returns its decoded segments (trailing slash noted). */
export function normalisePath(rawPath: string): { segments: string[]; trailingSlash: boolean; path: string } {
  if (!rawPath.startsWith('/')) throw bad('request path must be absolute');
  if (rawPath.length > 8192) throw new RequestError(414, 'RequestURITooLong', 'request path too long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/u.test(rawPath)) throw bad('request path contains a control character or backslash');
  if (rawPath === '/') return { segments: [], trailingSlash: false, path: '/' };
  const trailingSlash = rawPath.length > 1 && rawPath.endsWith('/');
  const body = rawPath.slice(1, trailingSlash ? -1 : undefined);
  const segments: string[] = [];
  for (const raw of body.split('/')) {
    if (raw === '') throw bad('request path contains an empty segment ("//")');
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      throw bad('request path contains an invalid percent-encoding');
    }
    if (/%(2f|5c|25|00|2e)/iu.test(raw)) throw bad('request path contains an encoded "/", "\\", "%", "." or NUL');
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f/\\%]/u.test(seg)) throw bad('request path segment decodes to a forbidden character');
    if (seg === '.' || seg === '..') throw bad('request path contains a "." or ".." segment');
    segments.push(seg);
  }
  const path = '/' + segments.map(encodeSegment).join('/') + (trailingSlash ? '/' : '');
  return { segments, trailingSlash, path };
}

function canonicalQuery(rawQuery: string): URLSearchParams {
  if (rawQuery.length > 65536) throw new RequestError(414, 'RequestURITooLong', 'query string too long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/u.test(rawQuery)) throw bad('query contains a control character');
  try {
    // Validate the percent-encoding strictly (URLSearchParams would silently keep broken escapes).
    for (const part of rawQuery.split('&')) decodeURIComponent(part.replace(/\+/gu, ' '));
  } catch {
    throw bad('query contains an invalid percent-encoding');
  }
  return new URLSearchParams(rawQuery);
}

/** Parses method + raw URL (path and query, as on the request line) into RequestInfo. Throws RequestError. */
export function parseRequestInfo(method: string, rawUrl: string): RequestInfo {
  const q = rawUrl.indexOf('?');
  const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
  const rawQuery = q >= 0 ? rawUrl.slice(q + 1) : '';
  const { segments, path } = normalisePath(rawPath);
  const params = canonicalQuery(rawQuery);
  const query = params.toString();
  const upper = method.toUpperCase();
  const base: RequestInfo = {
    path,
    query,
    params,
    isResourceRequest: false,
    verb: upper.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    resource: '',
    watch: false,
  };
  const prefix = segments[0];
  if (prefix !== 'api' && prefix !== 'apis') return base;
  let parts = segments.slice(1);
  let apiGroup = '';
  let apiVersion: string;
  if (prefix === 'apis') {
    if (parts.length < 2) return base; // /apis, /apis/<group>: discovery
    apiGroup = parts[0]!;
    apiVersion = parts[1]!;
    parts = parts.slice(2);
  } else {
    if (parts.length < 1) return base; // /api: discovery
    apiVersion = parts[0]!;
    parts = parts.slice(1);
  }
  if (parts.length === 0) return { ...base, apiGroup, apiVersion }; // /api/v1, /apis/g/v: discovery

  const info: RequestInfo = { ...base, isResourceRequest: true, apiPrefix: prefix, apiGroup, apiVersion, verb: '' };
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) throw bad(`unable to determine kind and namespace from url ${path}`);
    info.verb = parts[0];
    if (parts[0] === 'watch') info.watch = true;
    parts = parts.slice(1);
  } else {
    info.verb = METHOD_VERBS[upper] ?? '';
    if (!info.verb) throw new RequestError(405, 'MethodNotAllowed', `method ${upper} is not supported`);
  }
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1];
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
    }
  }
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2];
  if (parts.length >= 2) info.name = parts[1];
  info.resource = parts[0]!;

  if (!info.name && info.verb === 'get') {
    const w = params.getAll('watch');
    let watch = false;
    for (const v of w) {
      const b = parseGoBool(v);
      if (b === undefined) throw bad(`invalid value for watch: ${JSON.stringify(v)}`);
      watch ||= b;
    }
    info.verb = watch ? 'watch' : 'list';
    info.watch = watch;
    const fs = params.get('fieldSelector');
    if (fs) {
      const m = /^metadata\.name==?([^,]+)$/u.exec(fs.trim());
      if (m && /^[^/%]+$/u.test(m[1]!) && m[1] !== '.' && m[1] !== '..') info.name = m[1];
    }
  } else if (info.name && info.verb === 'get' && params.getAll('watch').some((v) => parseGoBool(v) === true)) {
    // A named GET with ?watch=true: judged as watch (stricter than get).
    info.verb = 'watch';
    info.watch = true;
  }
  if (!info.name && info.verb === 'delete') info.verb = 'deletecollection';
  if (info.verb === 'watch' && !info.watch) info.watch = true;
  return info;
}

/** The verbs under which a request is judged (connect subresources are judged as create, and as get for GET). */
export function judgedVerbs(info: RequestInfo, method: string): string[] {
  if (info.isResourceRequest && info.subresource && CONNECT_SUBRESOURCES.has(info.subresource)) {
    return method.toUpperCase() === 'GET' ? ['create', 'get'] : ['create'];
  }
  return [info.verb];
}

/** The full upstream request target (path + canonical query). */
export function target(info: Pick<RequestInfo, 'path' | 'query'>): string {
  return info.query ? `${info.path}?${info.query}` : info.path;
}

/** A read of one pod's log (GET pods/NAME/log). */
export function isPodLog(info: RequestInfo): boolean {
  return info.isResourceRequest && info.apiGroup === '' && info.resource === 'pods' && info.subresource === 'log' && info.name !== undefined;
}

/**
 * A followed pod log: it streams for as long as the pod logs. ?follow= means nothing on any other request
 * (the API server ignores it), so it must not make one long-running (no in-flight slot, no body recorded).
 */
export function isLogFollow(info: RequestInfo): boolean {
  return isPodLog(info) && info.params.get('follow') === 'true';
}
