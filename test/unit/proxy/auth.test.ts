import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { AuthenticationUnavailableError, OidcAuthenticator, unionAuthenticator, type TokenAuthenticator } from '../../../src/proxy/auth/index.js';

const req = (headers: Record<string, string>): IncomingMessage => ({ headers, socket: {} }) as unknown as IncomingMessage;

function tokenAuth(name: string, accepts?: (t: string) => boolean, fail = false): TokenAuthenticator & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    ...(accepts ? { accepts } : {}),
    async authenticateToken(t: string) {
      seen.push(t);
      if (fail) throw new Error('api server down');
      return t === 'good' || t.startsWith('jwt.') ? { username: `${name}:${t}`, groups: [] } : undefined;
    },
  };
}

describe('unionAuthenticator', () => {
  it('routes a token to the first authenticator that accepts it', async () => {
    const oidc = tokenAuth('oidc', (t) => t.startsWith('jwt.'));
    const tr = tokenAuth('tr');
    const auth = unionAuthenticator({ tokens: [oidc, tr] });
    expect(await auth.authenticate(req({ authorization: 'Bearer jwt.a.b' }))).toEqual({ username: 'oidc:jwt.a.b', groups: [] });
    expect(await auth.authenticate(req({ authorization: 'Bearer good' }))).toEqual({ username: 'tr:good', groups: [] });
    expect(oidc.seen).toEqual(['jwt.a.b']);
    expect(tr.seen).toEqual(['good']);
  });

  it('treats malformed or non-bearer Authorization and unknown tokens as unauthenticated', async () => {
    const auth = unionAuthenticator({ tokens: [tokenAuth('tr')] });
    expect(await auth.authenticate(req({ authorization: 'Basic YTpi' }))).toBeUndefined();
    expect(await auth.authenticate(req({ authorization: 'Bearer' }))).toBeUndefined();
    expect(await auth.authenticate(req({ authorization: 'Bearer nope' }))).toBeUndefined();
    expect(await auth.authenticate(req({}))).toBeUndefined();
  });

  it('reports an unreachable token reviewer as unavailable, not as a wrong token', async () => {
    const auth = unionAuthenticator({ tokens: [tokenAuth('tr', undefined, true)] });
    await expect(auth.authenticate(req({ authorization: 'Bearer good' }))).rejects.toBeInstanceOf(AuthenticationUnavailableError);
  });
});

describe('OidcAuthenticator', () => {
  it('requires https and an audience', () => {
    expect(() => new OidcAuthenticator({ issuerUrl: 'http://idp', audiences: ['a'] })).toThrow(/https/);
    expect(() => new OidcAuthenticator({ issuerUrl: 'https://idp', audiences: [] })).toThrow(/audience/);
  });
  it('accepts only JWTs naming its issuer', () => {
    const a = new OidcAuthenticator({ issuerUrl: 'https://idp.example', audiences: ['a'] });
    const jwt = (iss: string) => `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss })).toString('base64url')}.sig`;
    expect(a.accepts(jwt('https://idp.example'))).toBe(true);
    expect(a.accepts(jwt('https://evil.example'))).toBe(false);
    expect(a.accepts('opaque-token')).toBe(false);
  });
});
