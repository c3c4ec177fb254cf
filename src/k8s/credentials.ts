// The client's own credentials, kept current: a projected ServiceAccount token (in-cluster) or a kubeconfig
// tokenFile is re-read when it changes, and exec plugins and OIDC refresh through client-node
// (applyToHTTPSOptions re-runs a plugin once its credential expires). Requests read current() on every
// call, so a rotated credential is used from the next request on: a token file is checked (one stat) at
// most every second, everything else is refreshed when the last refresh is older than refreshMs, and at
// once after kube-apiserver answers 401.
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { homedir } from 'node:os';
import * as yaml from 'js-yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import * as https from 'node:https';

export interface ClientCredentials {
  /** Authorization (and any other auth header) for this client's own identity. */
  headers: Record<string, string>;
  /** TLS material: the CA for the server, and a client certificate when the identity is one. */
  tls: Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized' | 'servername'>;
}

export interface CredentialSourceOptions {
  /** A file holding the bearer token, re-read when its modification time or size changes. */
  tokenFile?: string;
  /** How old the last refresh may be before a request triggers another (default 10 s). */
  refreshMs?: number;
  now?: () => number;
}

/** The tokenFile of the current user, where a kubeconfig names one (client-node does not read it). */
export function kubeconfigTokenFile(kc: KubeConfig, path: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const user = kc.getCurrentUser();
  if (!user) return undefined;
  // In-cluster: client-node describes the projected token as a tokenFile auth provider.
  const inCluster = (user.authProvider?.config as Record<string, string> | undefined)?.tokenFile;
  if (inCluster) return inCluster;
  const files = path ? [path] : env.KUBECONFIG ? env.KUBECONFIG.split(':').filter(Boolean) : [join(homedir(), '.kube', 'config')];
  for (const file of files) {
    let doc: { users?: { name?: string; user?: { tokenFile?: string } }[] } | undefined;
    try {
      doc = yaml.load(readFileSync(file, 'utf8')) as typeof doc;
    } catch {
      continue;
    }
    const tokenFile = doc?.users?.find((u) => u.name === user.name)?.user?.tokenFile;
    // kubectl resolves a relative path against the kubeconfig that names it.
    if (tokenFile) return isAbsolute(tokenFile) ? tokenFile : join(dirname(file), tokenFile);
  }
  return undefined;
}

function sameTls(a: ClientCredentials['tls'], b: ClientCredentials['tls']): boolean {
  const text = (v: unknown): string => (v === undefined ? '' : Buffer.isBuffer(v) ? v.toString('base64') : String(v));
  return text(a.ca) === text(b.ca) && text(a.cert) === text(b.cert) && text(a.key) === text(b.key) && a.rejectUnauthorized === b.rejectUnauthorized && a.servername === b.servername;
}

const TOKEN_CHECK_MS = 1000;

export class CredentialSource {
  private creds: ClientCredentials = { headers: {}, tls: {} };
  private refreshedAt = -Infinity;
  private refreshing: Promise<ClientCredentials> | undefined;
  private tokenStamp = '';
  private token: string | undefined;
  private tokenCheckedAt = -Infinity;
  private readonly tlsListeners = new Set<(tls: ClientCredentials['tls']) => void>();
  private readonly refreshMs: number;
  private readonly now: () => number;

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: CredentialSourceOptions = {},
  ) {
    this.refreshMs = opts.refreshMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** The credentials to send now; starts a refresh in the background when they are due for one. */
  current(): ClientCredentials {
    const t = this.now();
    if (this.opts.tokenFile && t - this.tokenCheckedAt >= TOKEN_CHECK_MS) this.checkTokenFile(t);
    if (t - this.refreshedAt > this.refreshMs) void this.refresh().catch(() => undefined);
    return this.creds;
  }

  /** The credentials, refreshed first when due (for requests that can wait a moment). */
  fresh(): Promise<ClientCredentials> {
    return this.now() - this.refreshedAt > this.refreshMs ? this.refresh() : Promise.resolve(this.creds);
  }

  /** Re-reads every source now (one refresh at a time; concurrent callers share it). */
  refresh(): Promise<ClientCredentials> {
    this.refreshing ??= this.load().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Called when the TLS material changes (a rotated client certificate), so connection pools are rebuilt. */
  onTlsChange(listener: (tls: ClientCredentials['tls']) => void): () => void {
    this.tlsListeners.add(listener);
    return () => this.tlsListeners.delete(listener);
  }

  private async load(): Promise<ClientCredentials> {
    const opts: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
    const token = this.readTokenFile(this.token === undefined);
    if (token) headers.Authorization = `Bearer ${token}`;
    const tls: ClientCredentials['tls'] = {
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.cert ? { cert: opts.cert } : {}),
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.servername ? { servername: opts.servername } : {}),
      rejectUnauthorized: opts.rejectUnauthorized !== false,
    };
    const tlsChanged = this.refreshedAt !== -Infinity && !sameTls(tls, this.creds.tls);
    this.creds = { headers, tls };
    this.refreshedAt = this.now();
    if (tlsChanged) for (const l of this.tlsListeners) l(tls);
    return this.creds;
  }

  /** The hot path's check: re-reads a changed token file and puts the new token in the headers. */
  private checkTokenFile(t: number): void {
    this.tokenCheckedAt = t;
    const before = this.token;
    const token = this.readTokenFile(false);
    if (token && token !== before) this.creds = { ...this.creds, headers: { ...this.creds.headers, Authorization: `Bearer ${token}` } };
  }

  /**
   * The token file's content: a stat, and a read only when the file changed (kubelet replaces it
   * atomically). A failed read keeps the last token, except before one was ever read (strict): then the
   * error, naming the file, is the caller's.
   */
  private readTokenFile(strict: boolean): string | undefined {
    const file = this.opts.tokenFile;
    if (!file) return undefined;
    try {
      const st = statSync(file);
      const stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
      if (stamp !== this.tokenStamp) {
        const token = readFileSync(file, 'utf8').trim();
        this.tokenStamp = stamp;
        if (token) this.token = token;
      }
    } catch (err) {
      if (strict) throw err;
    }
    return this.token;
  }
}

/**
 * A connection pool that follows the source's TLS: when the client certificate rotates, new requests get a
 * new pool, and the old one is closed a minute later (open requests finish on it first).
 */
export class RotatingAgent {
  private pool: https.Agent;
  private readonly unsubscribe: () => void;

  constructor(source: CredentialSource, options: () => https.AgentOptions) {
    this.pool = new https.Agent(options());
    this.unsubscribe = source.onTlsChange(() => {
      const old = this.pool;
      this.pool = new https.Agent(options());
      setTimeout(() => old.destroy(), 60_000).unref();
    });
  }

  get current(): https.Agent {
    return this.pool;
  }

  close(): void {
    this.unsubscribe();
    this.pool.destroy();
  }
}
