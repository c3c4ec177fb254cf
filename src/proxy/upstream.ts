// The proxy's connection to kube-apiserver: one keep-alive https.Agent with the proxy's TLS material,
// the proxy's own credentials (read from the client's credential source on every request, so a rotated
// token is used at once; a rotated client certificate swaps the pool), and impersonation of the agent.
import * as https from 'node:https';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { KubeClient } from '../k8s/client.js';
import { RotatingAgent } from '../k8s/credentials.js';
import type { UserInfo } from '../policy/types.js';
import { upstreamIdentityHeaders } from './headers.js';
import { OIDC_EXTRA_PREFIX } from './auth/oidc.js';
import { PROXIED_EXTRA_KEY } from '../identity/proxied-token.js';
import { DeadlineExceeded } from './deadline.js';

/** A side-effect-free call made for judging (or policy inputs) without a deadline of its own. */
const PROBE_TIMEOUT_MS = 30_000;

export interface JsonResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: unknown;
  text: string;
}

export class Upstream {
  private readonly pool: RotatingAgent;
  readonly server: URL;

  /**
   * extra: user extras added to every impersonated identity (it replaces any same-named extra). The
   * webhook's airlock.dev/proxied exemption needs a per-request token instead: see identity().
   */
  constructor(
    private readonly client: KubeClient,
    maxSockets = 1024,
    private readonly extra: Record<string, string[]> = {},
  ) {
    this.pool = new RotatingAgent(client.credentialSource, () => ({ ...client.tlsOptions(), keepAlive: true, maxSockets, maxFreeSockets: 64, scheduling: 'lifo' }));
    this.server = client.server;
  }

  get agent(): https.Agent {
    return this.pool.current;
  }

  /** The proxy's own auth headers, as of now. */
  private get creds(): Record<string, string> {
    return this.client.credentialSource.current().headers;
  }

  /**
   * Headers that authenticate as the proxy and impersonate the agent. proxiedValue: the per-request token
   * from ctx.signProxied (src/identity/proxied-token.ts), sent as the extra airlock.dev/proxied; it
   * replaces the static `extra` map for that key.
   */
  identity(user: UserInfo, proxiedValue?: string): OutgoingHttpHeaders {
    // OIDC claims (oidc.airlock.dev/*) are for Airlock's own policies; they are not sent upstream, so the
    // proxy needs no impersonation rights for arbitrary claim names (the API server refuses a request
    // whose extras it may not impersonate). An agent's own airlock.dev/proxied extra is never forwarded.
    const extra: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(user.extra ?? {})) if (!k.startsWith(OIDC_EXTRA_PREFIX) && k !== PROXIED_EXTRA_KEY) extra[k] = v;
    return upstreamIdentityHeaders(this.creds, { ...user, extra: { ...extra, ...this.extra, ...(proxiedValue ? { [PROXIED_EXTRA_KEY]: [proxiedValue] } : {}) } });
  }

  /**
   * Starts a request to a path+query exactly as given (already canonical). answerBy / endBy (epoch ms):
   * the request is destroyed with DeadlineExceeded when its answer has not started, or not ended, by then.
   */
  request(method: string, target: string, headers: OutgoingHttpHeaders, opts: { answerBy?: number; endBy?: number } = {}): ClientRequest {
    const base = this.server.pathname.replace(/\/$/u, '');
    const req = https.request({
      protocol: this.server.protocol,
      hostname: this.server.hostname,
      port: this.server.port,
      method,
      path: base + target,
      headers: { ...headers, host: this.server.host },
      agent: this.pool.current,
    });
    const cut = (by: number, what: string): NodeJS.Timeout =>
      setTimeout(() => {
        const err = new DeadlineExceeded(`kube-apiserver did not ${what} ${method} ${target.split('?')[0]} in time`);
        // A request still queued for a connection (every one busy) reports nothing on destroy until it gets
        // one, which may be never: report the deadline now, once; what Node emits later goes nowhere.
        const queued = !req.socket;
        req.destroy(err);
        if (queued) {
          req.emit('error', err);
          req.removeAllListeners('error').on('error', () => undefined);
        }
      }, Math.max(0, by - Date.now()));
    // When the answer must also end by then (non-watch requests), the end timer alone covers both.
    if (opts.answerBy !== undefined && !(opts.endBy !== undefined && opts.endBy <= opts.answerBy)) {
      const t = cut(opts.answerBy, 'answer');
      const answered = (): void => clearTimeout(t);
      req.once('response', answered).once('upgrade', answered).once('close', answered);
    }
    if (opts.endBy !== undefined) {
      const t = cut(opts.endBy, 'finish');
      req.once('close', () => clearTimeout(t));
      // An upgraded stream has no end to wait for.
      req.once('upgrade', () => clearTimeout(t));
    }
    return req;
  }

  /**
   * A small JSON request (judging probes, policy inputs), the response read up to maxBytes. `as`: the
   * agent (its identity headers, see identity()), or null for the proxy itself.
   */
  json(method: string, target: string, as: OutgoingHttpHeaders | null, body?: { contentType: string; data: string | Buffer }, opts: { maxBytes?: number; endBy?: number } = {}): Promise<JsonResponse> {
    const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    const endBy = Math.min(opts.endBy ?? Infinity, Date.now() + PROBE_TIMEOUT_MS);
    const identity: OutgoingHttpHeaders = as ?? Object.fromEntries(Object.entries(this.creds).map(([k, v]) => [k.toLowerCase(), v]));
    const headers: OutgoingHttpHeaders = { ...identity, accept: 'application/json' };
    if (body) {
      headers['content-type'] = body.contentType;
      headers['content-length'] = Buffer.byteLength(body.data);
    }
    return this.jsonOnce(method, target, headers, body, maxBytes, endBy).catch((err: unknown) => {
      // A keep-alive socket the API server closed just as it was reused: the request never arrived, and
      // these requests (reads, dry runs) have no side effects, so it is sent once more on a fresh socket.
      if ((err as { reusedSocket?: boolean }).reusedSocket) return this.jsonOnce(method, target, headers, body, maxBytes, endBy);
      throw err;
    });
  }

  private jsonOnce(method: string, target: string, headers: OutgoingHttpHeaders, body: { contentType: string; data: string | Buffer } | undefined, maxBytes: number, endBy: number): Promise<JsonResponse> {
    return new Promise((resolve, reject) => {
      const req = this.request(method, target, headers, { endBy });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const early = req.reusedSocket && (err.code === 'ECONNRESET' || err.message === 'socket hang up');
        reject(early ? Object.assign(err, { reusedSocket: true }) : err);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            req.destroy(new Error('upstream response too large'));
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { /* not JSON */ }
          resolve({ status: res.statusCode ?? 502, headers: res.headers, body: parsed, text });
        });
      });
      req.end(body?.data);
    });
  }

  close(): void {
    this.pool.close();
  }
}
