// Bearer tokens (ServiceAccount tokens and any token the API server accepts) checked with a TokenReview
// sent with the proxy's own credentials; results cached briefly by the token's SHA-256 (never the token).
import { createHash } from 'node:crypto';
import type { KubeClient } from '../../k8s/client.js';
import type { UserInfo } from '../../policy/types.js';
import type { TokenAuthenticator } from './types.js';

export interface TokenReviewOptions {
  /** Audiences to request (default: the API server's). */
  audiences?: string[];
  /** Positive cache TTL (default 10 s) and negative cache TTL (default 2 s). */
  ttlMs?: number;
  negativeTtlMs?: number;
  maxEntries?: number;
}

interface Entry { user?: UserInfo; expires: number }

interface TokenReviewStatus {
  status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }; audiences?: string[] };
}

export class TokenReviewAuthenticator implements TokenAuthenticator {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<UserInfo | undefined>>();

  constructor(private readonly client: KubeClient, private readonly opts: TokenReviewOptions = {}) {}

  async authenticateToken(token: string): Promise<UserInfo | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && hit.expires > now) return hit.user;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.review(token).then(
        (user) => {
          this.remember(key, user);
          return user;
        },
        (err: unknown) => {
          throw err; // API server unreachable: not cached, the caller answers 503-ish
        },
      ).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private remember(key: string, user: UserInfo | undefined): void {
    const max = this.opts.maxEntries ?? 10_000;
    if (this.cache.size >= max) {
      const now = Date.now();
      for (const [k, e] of this.cache) if (e.expires <= now) this.cache.delete(k);
      while (this.cache.size >= max) this.cache.delete(this.cache.keys().next().value as string);
    }
    this.cache.set(key, { user, expires: Date.now() + (user ? (this.opts.ttlMs ?? 10_000) : (this.opts.negativeTtlMs ?? 2_000)) });
  }

  private async review(token: string): Promise<UserInfo | undefined> {
    const body = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, ...(this.opts.audiences ? { audiences: this.opts.audiences } : {}) },
    };
    const res = await this.client.create<TokenReviewStatus>('/apis/authentication.k8s.io/v1/tokenreviews', body, { timeoutMs: 10_000 });
    const st = res.status;
    if (!st?.authenticated || !st.user?.username) return undefined;
    const user: UserInfo = { username: st.user.username, groups: st.user.groups ?? [] };
    if (st.user.uid) user.uid = st.user.uid;
    if (st.user.extra && Object.keys(st.user.extra).length) user.extra = st.user.extra;
    return user;
  }
}
