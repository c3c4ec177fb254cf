// OIDC ID tokens (JWT) from one issuer: discovery (/.well-known/openid-configuration), JWKS fetched and
// cached by jose (refetched when a token names an unknown key: rotation), audience, exp/nbf with clock
// skew, username and groups from configurable claims with prefixes, string claims as user extras.
import { createRemoteJWKSet, customFetch, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { UserInfo } from '../../policy/types.js';
import type { TokenAuthenticator } from './types.js';
import { httpsGetJson } from './https-get.js';

export interface OidcOptions {
  issuerUrl: string;
  /** Accepted audiences (client IDs); at least one. */
  audiences: string[];
  usernameClaim?: string; // default "sub"
  /** Prefix for usernames; default "<issuer>#" unless the claim is "email" (Kubernetes' convention). "-" disables. */
  usernamePrefix?: string;
  groupsClaim?: string;
  groupsPrefix?: string;
  /** Seconds of clock skew tolerated for exp/nbf/iat (default 60). */
  clockSkewSeconds?: number;
  /** CA bundle for the issuer's TLS (PEM); system roots otherwise. */
  ca?: string | Buffer;
  /** Accepted signing algorithms (default RS256, ES256, PS256, EdDSA and family). */
  algorithms?: string[];
  /** Minimum seconds between JWKS refetches for unknown keys (default 30). */
  jwksCooldownSeconds?: number;
}

export const OIDC_EXTRA_PREFIX = 'oidc.airlock.dev/';

const DEFAULT_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
const HEADER_SAFE = /^[\x20-\x7e]*$/u;

export class OidcAuthenticator implements TokenAuthenticator {
  private jwks?: ReturnType<typeof createRemoteJWKSet>;
  private discovering?: Promise<ReturnType<typeof createRemoteJWKSet>>;
  private readonly issuer: string;

  constructor(private readonly opts: OidcOptions) {
    if (!opts.audiences.length) throw new Error('OIDC: at least one audience is required');
    const u = new URL(opts.issuerUrl);
    if (u.protocol !== 'https:') throw new Error('OIDC: the issuer URL must be https');
    this.issuer = opts.issuerUrl;
  }

  /** Whether the token is a JWT naming this issuer (cheap, unverified). */
  accepts(token: string): boolean {
    if (token.split('.').length !== 3) return false;
    try {
      return decodeJwt(token).iss === this.issuer;
    } catch {
      return false;
    }
  }

  private keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.jwks) return Promise.resolve(this.jwks);
    this.discovering ??= (async () => {
      const wellKnown = this.issuer.replace(/\/$/u, '') + '/.well-known/openid-configuration';
      const { status, body } = await httpsGetJson(wellKnown, { ca: this.opts.ca });
      const doc = body as { issuer?: string; jwks_uri?: string };
      if (status !== 200 || !doc.jwks_uri) throw new Error(`OIDC discovery at ${wellKnown} failed (${status})`);
      if (doc.issuer !== this.issuer) throw new Error(`OIDC discovery: issuer ${doc.issuer} does not match ${this.issuer}`);
      const jwksUrl = new URL(doc.jwks_uri);
      if (jwksUrl.protocol !== 'https:') throw new Error('OIDC discovery: jwks_uri must be https');
      const ca = this.opts.ca;
      this.jwks = createRemoteJWKSet(jwksUrl, {
        cooldownDuration: (this.opts.jwksCooldownSeconds ?? 30) * 1000,
        cacheMaxAge: 10 * 60 * 1000,
        [customFetch]: async (url: string) => {
          const r = await httpsGetJson(url, { ca });
          return new Response(JSON.stringify(r.body), { status: r.status, headers: { 'content-type': 'application/json' } });
        },
      });
      return this.jwks;
    })().catch((err: unknown) => {
      this.discovering = undefined; // retry discovery on the next token
      throw err;
    });
    return this.discovering;
  }

  async authenticateToken(token: string): Promise<UserInfo | undefined> {
    if (!this.accepts(token)) return undefined;
    const jwks = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: this.issuer,
        audience: this.opts.audiences,
        clockTolerance: this.opts.clockSkewSeconds ?? 60,
        algorithms: this.opts.algorithms ?? DEFAULT_ALGS,
        requiredClaims: ['exp'],
      }));
    } catch {
      return undefined;
    }
    return this.userFrom(payload);
  }

  private userFrom(payload: JWTPayload): UserInfo | undefined {
    const claim = this.opts.usernameClaim ?? 'sub';
    const raw = payload[claim];
    if (typeof raw !== 'string' || !raw) return undefined;
    if (claim === 'email' && payload.email_verified !== undefined && payload.email_verified !== true) return undefined;
    let prefix = this.opts.usernamePrefix ?? (claim === 'email' ? '' : `${this.issuer}#`);
    if (prefix === '-') prefix = '';
    const username = prefix + raw;
    if (username.startsWith('system:')) return undefined; // never let an IdP mint system identities
    const groups: string[] = [];
    if (this.opts.groupsClaim) {
      const g = payload[this.opts.groupsClaim];
      const list = typeof g === 'string' ? [g] : Array.isArray(g) ? g.filter((x): x is string => typeof x === 'string') : [];
      for (const name of list) {
        const full = (this.opts.groupsPrefix ?? '') + name;
        if (!full.startsWith('system:') && HEADER_SAFE.test(full)) groups.push(full);
      }
    }
    const extra: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(payload)) {
      const values = typeof v === 'string' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
      if (!values || !values.length) continue;
      const safe = values.filter((x) => HEADER_SAFE.test(x));
      if (safe.length) extra[OIDC_EXTRA_PREFIX + k] = safe;
    }
    if (!HEADER_SAFE.test(username)) return undefined;
    const user: UserInfo = { username, groups: [...groups, 'system:authenticated'], extra };
    return user;
  }
}
