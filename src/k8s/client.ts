// With credentials.ts, the only module that imports @kubernetes/client-node: it reads kubeconfigs (files,
// in-cluster, default loading rules); credentials.ts keeps their TLS and auth current, and every request
// takes them as of that moment. Requests go through node:https directly, so
// repeated headers (Impersonate-Group) stay separate, bodies stream, and any path can be reached.
import * as https from 'node:https';
import * as http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { CredentialSource, kubeconfigTokenFile, RotatingAgent } from './credentials.js';

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Raw body (already serialised); takes precedence over body. */
  rawBody?: Buffer | string;
  contentType?: string;
  headers?: Record<string, string | string[]>;
  /** Impersonate this identity (requires impersonate rights for the client's own credentials). */
  impersonate?: Identity;
  timeoutMs?: number;
}

export interface Identity {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface KubeResponse<T = unknown> {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: T;
}

const MAX_RETRIES_ON_429 = 5;

/** The delay a 429 asks for (Retry-After in seconds, at most 5 s), or undefined when it is not to be retried. */
function retryAfterMs(err: KubeApiError): number | undefined {
  const after = Number((err as { retryAfter?: string }).retryAfter);
  if (err.status !== 429 || !Number.isFinite(after)) return undefined;
  return Math.min(5, Math.max(0, after)) * 1000 + 50;
}

export class KubeApiError extends Error {
  constructor(
    public readonly status: number,
    public readonly body: unknown,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
  get reason(): string | undefined {
    return (this.body as { reason?: string } | undefined)?.reason;
  }
}

export interface WatchEvent<T = Record<string, unknown>> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface WatchHandle {
  stop(): void;
  done: Promise<void>;
}

/** Escapes a header value for Impersonate-Extra-* keys the way kube-apiserver expects (percent-encoding). */
export function encodeExtraKey(key: string): string {
  return encodeURIComponent(key).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

export function impersonationHeaders(id: Identity): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = { 'Impersonate-User': id.username };
  if (id.uid) h['Impersonate-Uid'] = id.uid;
  const groups = (id.groups ?? []).filter((g) => g !== 'system:authenticated');
  if (groups.length) h['Impersonate-Group'] = groups;
  for (const [k, v] of Object.entries(id.extra ?? {})) h[`Impersonate-Extra-${encodeExtraKey(k)}`] = v;
  return h;
}

export class KubeClient {
  readonly server: URL;
  private readonly pool: RotatingAgent;

  private constructor(
    readonly kubeConfig: KubeConfig,
    /** This client's own credentials, kept current (token files re-read, exec plugins and OIDC refreshed). */
    readonly credentialSource: CredentialSource,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    this.pool = new RotatingAgent(credentialSource, () => this.tlsOptions());
  }

  /**
   * Loads a kubeconfig file, or in-cluster config, or the default loading rules when path is undefined.
   * env: where KUBECONFIG is read from for the default rules' tokenFile (default: this process's).
   */
  static async load(path?: string, context?: string, opts: { env?: NodeJS.ProcessEnv; refreshMs?: number } = {}): Promise<KubeClient> {
    const kc = new KubeConfig();
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
    if (context) kc.setCurrentContext(context);
    const tokenFile = kubeconfigTokenFile(kc, path, opts.env ?? process.env);
    const source = new CredentialSource(kc, { ...(tokenFile ? { tokenFile } : {}), ...(opts.refreshMs !== undefined ? { refreshMs: opts.refreshMs } : {}) });
    await source.refresh();
    return new KubeClient(kc, source);
  }

  /** The connection pool to kube-apiserver (replaced when the client certificate rotates). */
  get agent(): https.Agent {
    return this.pool.current;
  }

  /** TLS material for other components (the proxy's upstream agent), as of now: see credentialSource.onTlsChange. */
  tlsOptions(): https.AgentOptions {
    return { ...this.credentialSource.current().tls, keepAlive: true, maxSockets: 64 };
  }

  /** Auth headers (Authorization) of this client's own identity, as of now. */
  credentials(): Record<string, string> {
    return { ...this.credentialSource.current().headers };
  }

  /** Closes the connection pool. */
  close(): void {
    this.pool.close();
  }

  currentUserName(): string {
    return this.kubeConfig.getCurrentUser()?.name ?? 'unknown';
  }

  url(path: string, query?: RequestOptions['query']): URL {
    const u = new URL(path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  /** Starts a raw request; the caller handles the streaming response. */
  rawRequest(method: string, path: string, opts: RequestOptions = {}): http.ClientRequest {
    const u = this.url(path, opts.query);
    const headers: Record<string, string | string[]> = {
      Accept: 'application/json',
      ...this.credentialSource.current().headers,
      ...(opts.impersonate ? impersonationHeaders(opts.impersonate) : {}),
      ...(opts.headers ?? {}),
    };
    const req = https.request(u, { method, headers, agent: this.pool.current, timeout: opts.timeoutMs ?? 30000 });
    req.on('timeout', () => req.destroy(new Error(`request ${method} ${u.pathname} timed out`)));
    return req;
  }

  /**
   * One API call, with credentials no older than the source's refresh interval. A 429 with Retry-After (kube-apiserver reinitialising a resource's storage, priority and
   * fairness shedding load) was not processed: it is retried after the delay asked for, as client-go does.
   */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<KubeResponse<T>> {
    let refreshedAfter401 = false;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.credentialSource.fresh();
        return await this.requestOnce<T>(method, path, opts);
      } catch (err) {
        // 401: the request was not processed and the credential may have rotated under us: re-read, retry once.
        if (err instanceof KubeApiError && err.status === 401 && !refreshedAfter401) {
          refreshedAfter401 = true;
          await this.credentialSource.refresh();
          continue;
        }
        const wait = err instanceof KubeApiError ? retryAfterMs(err) : undefined;
        if (wait === undefined || attempt >= MAX_RETRIES_ON_429) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private async requestOnce<T>(method: string, path: string, opts: RequestOptions): Promise<KubeResponse<T>> {
    let payload: Buffer | string | undefined = opts.rawBody;
    let contentType = opts.contentType;
    if (payload === undefined && opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      contentType ??= method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    }
    const headers = { ...(opts.headers ?? {}) };
    if (contentType) headers['Content-Type'] = contentType;
    const req = this.rawRequest(method, path, { ...opts, headers });
    return new Promise<KubeResponse<T>>((resolve, reject) => {
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text) {
            try { body = JSON.parse(text); } catch { body = text; }
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const msg = (body as { message?: string })?.message ?? text.slice(0, 500);
            reject(Object.assign(new KubeApiError(status, body, `${method} ${path}: ${status} ${msg}`), { retryAfter: res.headers['retry-after'] }));
            return;
          }
          resolve({ status, headers: res.headers, body: body as T });
        });
      });
      if (payload !== undefined) req.end(payload);
      else req.end();
    });
  }

  get<T = unknown>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, opts).then((r) => r.body);
  }
  create<T = unknown>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body }).then((r) => r.body);
  }
  replace<T = unknown>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body }).then((r) => r.body);
  }
  patch<T = unknown>(path: string, body: unknown, contentType = 'application/merge-patch+json', opts?: RequestOptions): Promise<T> {
    return this.request<T>('PATCH', path, { ...opts, body, contentType }).then((r) => r.body);
  }
  /** Server-side apply of a whole object with a field manager. */
  apply<T = unknown>(path: string, body: unknown, fieldManager: string, force = true): Promise<T> {
    return this.request<T>('PATCH', path, {
      rawBody: JSON.stringify(body),
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager, force },
    }).then((r) => r.body);
  }
  delete<T = unknown>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>('DELETE', path, opts).then((r) => r.body);
  }

  /**
   * Watches a collection path from resourceVersion; calls onEvent for each event. Ends (done resolves)
   * when the server closes the stream, the watch expires (410 is delivered as an ERROR event) or stop()
   * is called. Informer (src/k8s/informer.ts) adds relisting and reconnects.
   */
  watch(path: string, query: Record<string, string>, onEvent: (e: WatchEvent) => void): WatchHandle {
    const req = this.rawRequest('GET', path, { query: { ...query, watch: 'true', allowWatchBookmarks: 'true' }, timeoutMs: 0 });
    req.setTimeout(0);
    let stopped = false;
    const done = new Promise<void>((resolve, reject) => {
      req.on('error', (err) => (stopped ? resolve() : reject(err)));
      req.on('response', (res) => {
        if ((res.statusCode ?? 0) >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let body: unknown = text;
            try { body = JSON.parse(text); } catch { /* keep text */ }
            reject(new KubeApiError(res.statusCode ?? 0, body, `watch ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
          });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try { onEvent(JSON.parse(line) as WatchEvent); } catch (err) { req.destroy(err as Error); }
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => (stopped ? resolve() : reject(err)));
        res.on('close', () => resolve());
      });
      req.end();
    });
    return {
      stop: () => { stopped = true; req.destroy(); },
      done,
    };
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409 && err.reason === 'AlreadyExists';
}

/** Builds the REST path of a resource. */
export function resourcePath(p: { group: string; version: string; resource: string; namespace?: string; name?: string; subresource?: string }): string {
  const base = p.group ? `/apis/${p.group}/${p.version}` : `/api/${p.version}`;
  let path = base;
  if (p.namespace) path += `/namespaces/${encodeURIComponent(p.namespace)}`;
  path += `/${p.resource}`;
  if (p.name) path += `/${encodeURIComponent(p.name)}`;
  if (p.subresource) path += `/${p.subresource}`;
  return path;
}
