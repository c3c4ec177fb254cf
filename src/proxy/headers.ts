// Header hygiene between the agent and the API server: nothing the agent sends may speak for the proxy
// (Authorization) or claim another identity (Impersonate-*, X-Remote-*, X-Forwarded-*).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { impersonationHeaders } from '../k8s/client.js';
import type { UserInfo } from '../policy/types.js';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'content-length',
  'expect',
]);

/** The first Impersonate-* header name the agent sent, if any (such requests are refused). */
export function impersonationAttempt(headers: IncomingHttpHeaders): string | undefined {
  return Object.keys(headers).find((h) => h.toLowerCase().startsWith('impersonate-'));
}

/** Header names listed in Connection (they are hop-by-hop as well). */
function connectionListed(headers: IncomingHttpHeaders): Set<string> {
  const out = new Set<string>();
  const c = headers.connection;
  for (const v of Array.isArray(c) ? c : c ? [c] : []) for (const t of v.split(',')) if (t.trim()) out.add(t.trim().toLowerCase());
  return out;
}

/** WebSocket subprotocols carrying a bearer token (kube-apiserver's browser-friendly token transport). */
export const WS_TOKEN_PREFIX = 'base64url.bearer.authorization.k8s.io.';

/**
 * The agent's headers that are safe to forward: everything but credentials, identity claims, hop-by-hop
 * and Connection-listed headers. `keepUpgrade` keeps Connection/Upgrade for protocol upgrades.
 */
export function forwardableHeaders(headers: IncomingHttpHeaders, keepUpgrade = false): OutgoingHttpHeaders {
  const listed = connectionListed(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (v === undefined) continue;
    if (HOP_BY_HOP.has(name) || listed.has(name)) continue;
    if (name.startsWith('impersonate-') || name.startsWith('x-remote-') || name.startsWith('x-forwarded-')) continue;
    if (name === 'forwarded' || name === 'cookie') continue;
    if (name === 'sec-websocket-protocol') {
      const list = (Array.isArray(v) ? v.join(',') : v)
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p && !p.startsWith(WS_TOKEN_PREFIX));
      if (list.length) out[name] = list.join(', ');
      continue;
    }
    out[name] = v;
  }
  if (keepUpgrade && headers.upgrade) {
    out.connection = 'Upgrade';
    out.upgrade = headers.upgrade;
  }
  return out;
}

/** The proxy's credentials plus impersonation of the authenticated agent. */
export function upstreamIdentityHeaders(credentials: Record<string, string>, user: UserInfo): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(credentials)) out[k.toLowerCase()] = v;
  for (const [k, v] of Object.entries(impersonationHeaders(user))) out[k.toLowerCase()] = v;
  return out;
}

/** Response headers to pass back to the agent (hop-by-hop removed). */
export function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(headers);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (v === undefined || listed.has(name)) continue;
    if (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding' || name === 'proxy-connection' || name === 'trailer' || name === 'upgrade') continue;
    out[name] = v;
  }
  return out;
}

/** The bearer token from Authorization, or from a WebSocket subprotocol. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const a = headers.authorization;
  if (a) {
    const m = /^Bearer\s+(\S+)\s*$/iu.exec(a);
    return m ? m[1] : undefined;
  }
  const p = headers['sec-websocket-protocol'];
  if (p) {
    for (const proto of (Array.isArray(p) ? p.join(',') : p).split(',')) {
      const t = proto.trim();
      if (t.startsWith(WS_TOKEN_PREFIX)) {
        try {
          return Buffer.from(t.slice(WS_TOKEN_PREFIX.length), 'base64url').toString('utf8');
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}
