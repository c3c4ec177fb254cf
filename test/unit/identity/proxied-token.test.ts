// The per-request airlock.dev/proxied token: sign/verify round trips, and every way a value is refused.
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CLOCK_SKEW_SECONDS, proxiedSigner, proxiedVerifier, VALIDITY_SECONDS, type AdmittedRequest, type ProxiedRequest } from '../../../src/identity/proxied-token.js';

const key = randomBytes(32);
const T0 = 1_750_000_000_000;
const agent = { username: 'agent-ci', uid: 'uid-agent-ci', groups: ['airlock:agents', 'team-a'] };
const sent: ProxiedRequest = { user: agent, verb: 'create', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: 'prod', name: 'web' };
// What the webhook sees for `sent`: the API server adds system:authenticated to impersonated users.
const seen: AdmittedRequest = {
  user: { ...agent, groups: ['team-a', 'airlock:agents', 'system:authenticated'] },
  operation: 'CREATE', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', namespace: 'prod', name: 'web', dryRun: false,
};

const at = (ms: number) => () => ms;
const sign = (req: ProxiedRequest = sent, now = T0) => proxiedSigner(key, at(now))(req);
const verify = (value: unknown, r: AdmittedRequest = seen, now = T0) => proxiedVerifier(key, at(now))([value], r);

describe('proxied token', () => {
  it('round-trips, is versioned, carries a fresh nonce each time and only verifies for its request', () => {
    const v = sign();
    expect(v).toMatch(/^v1\.\d+\.[A-Za-z0-9_-]{22}\.create\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{43}$/);
    expect(v.split('.')[1]).toBe(String(T0 / 1000));
    expect(verify(v)).toEqual({ ok: true });
    expect(sign()).not.toBe(v);
    expect(verify(sign())).toEqual({ ok: true });
  });

  it('refuses the token when any bound attribute of the admitted request differs', () => {
    const v = sign();
    const changed: [string, AdmittedRequest][] = [
      ['username', { ...seen, user: { ...seen.user, username: 'agent-cd' } }],
      ['uid', { ...seen, user: { ...seen.user, uid: 'uid-other' } }],
      ['no uid', { ...seen, user: { username: 'agent-ci', groups: seen.user.groups } }],
      ['group added', { ...seen, user: { ...seen.user, groups: [...seen.user.groups, 'system:masters'] } }],
      ['group removed', { ...seen, user: { ...seen.user, groups: ['airlock:agents'] } }],
      ['operation', { ...seen, operation: 'DELETE' }],
      ['group', { ...seen, apiGroup: 'extensions' }],
      ['version', { ...seen, apiVersion: 'v1beta1' }],
      ['resource', { ...seen, resource: 'statefulsets' }],
      ['subresource', { ...seen, subresource: 'scale' }],
      ['namespace', { ...seen, namespace: 'kube-system' }],
      ['cluster scope', { ...seen, namespace: undefined }],
      ['name', { ...seen, name: 'other' }],
      ['dry run', { ...seen, dryRun: true }],
    ];
    for (const [what, r] of changed) expect([what, verify(v, r).ok]).toEqual([what, false]);
    // Signed for a dry run: refused for the real write, accepted for the dry run.
    const dry = sign({ ...sent, dryRun: true });
    expect(verify(dry).ok).toBe(false);
    expect(verify(dry, { ...seen, dryRun: true }).ok).toBe(true);
  });

  it('maps verbs to admission operations and no further', () => {
    const upd: AdmittedRequest = { ...seen, operation: 'UPDATE' };
    expect(verify(sign({ ...sent, verb: 'patch' }), upd).ok).toBe(true);
    expect(verify(sign({ ...sent, verb: 'update' }), upd).ok).toBe(true);
    expect(verify(sign({ ...sent, verb: 'patch' })).ok).toBe(true); // server-side apply may create
    expect(verify(sign({ ...sent, verb: 'create' }), upd)).toMatchObject({ ok: false, reason: expect.stringContaining('does not cover UPDATE') });
    expect(verify(sign({ ...sent, verb: 'get' })).ok).toBe(false);
    const del: AdmittedRequest = { ...seen, operation: 'DELETE' };
    expect(verify(sign({ ...sent, verb: 'delete' }), del).ok).toBe(true);
    // deletecollection does not bind its selector: each item's DELETE is judged.
    expect(verify(sign({ ...sent, verb: 'deletecollection', name: undefined }), del).ok).toBe(false);
    expect(verify(sign({ ...sent, verb: 'deletecollection' }), del).ok).toBe(false);
    // ...but an object of the proxy's own collection is told apart (its budgets were counted by the proxy).
    expect(verify(sign({ ...sent, verb: 'deletecollection', name: undefined }), del)).toMatchObject({ ok: false, collection: true });
    expect(verify(sign({ ...sent, verb: 'deletecollection', name: undefined }), { ...del, namespace: 'other' })).toEqual({ ok: false, reason: 'signature does not match this request' });
    expect(verify(sign({ ...sent, verb: 'deletecollection', name: undefined }), { ...del, operation: 'UPDATE' })).toMatchObject({ ok: false, reason: expect.stringContaining('does not cover UPDATE') });
    const exec: AdmittedRequest = { ...seen, operation: 'CONNECT', apiGroup: '', resource: 'pods', subresource: 'exec' };
    expect(verify(sign({ ...sent, verb: 'get', apiGroup: '', resource: 'pods', subresource: 'exec' }), exec).ok).toBe(true);
    expect(verify(sign({ ...sent, verb: 'get', apiGroup: '', resource: 'pods', subresource: 'attach' }), exec).ok).toBe(false);
  });

  it('accepts an empty signed name only for a CREATE with generateName whose admitted name is generated from it', () => {
    const v = sign({ ...sent, name: undefined });
    const generated: AdmittedRequest = { ...seen, name: 'web-x7k2p', generateName: 'web-' };
    expect(verify(v, generated).ok).toBe(true);
    expect(verify(v, { ...generated, generateName: undefined }).ok).toBe(false); // a named create
    expect(verify(v, { ...generated, name: 'other-x7k2p' }).ok).toBe(false);
    expect(verify(v, { ...generated, name: 'web-x7k2pq' }).ok).toBe(false);
    expect(verify(v, { ...generated, operation: 'UPDATE' }).ok).toBe(false);
    expect(verify(sign({ ...sent, name: undefined, verb: 'patch' }), { ...generated, operation: 'UPDATE' }).ok).toBe(false);
    // A long generateName is truncated to 58 characters before the 5 random ones.
    const long = 'a'.repeat(70);
    expect(verify(v, { ...generated, generateName: long, name: 'a'.repeat(58) + 'b2c3d' }).ok).toBe(true);
    // An older API server that leaves the name empty still matches the empty signed name.
    expect(verify(v, { ...generated, name: undefined }).ok).toBe(true);
    // A name signed in clear cannot be swapped: the MAC covers it.
    const [ver, iat, nonce, verb, , mac] = sign().split('.');
    expect(verify([ver, iat, nonce, verb, Buffer.from('other').toString('base64url'), mac].join('.'), { ...seen, name: 'other' }).ok).toBe(false);
    expect(verify([ver, iat, nonce, verb, '', mac].join('.'), generated).ok).toBe(false);
  });

  it('binds a Namespace by its name (admission reports namespace = name for namespaces)', () => {
    const ns: ProxiedRequest = { user: agent, verb: 'create', apiGroup: '', apiVersion: 'v1', resource: 'namespaces', name: 'team-b' };
    const seenNs: AdmittedRequest = { ...seen, apiGroup: '', resource: 'namespaces', namespace: 'team-b', name: 'team-b' };
    expect(verify(sign(ns), seenNs).ok).toBe(true);
    expect(verify(sign({ ...ns, namespace: 'team-b', verb: 'update' }), { ...seenNs, operation: 'UPDATE' }).ok).toBe(true);
    expect(verify(sign(ns), { ...seenNs, name: 'team-c', namespace: 'team-c' }).ok).toBe(false);
  });

  it('ignores only the groups the API server derives from the username', () => {
    const sa = { username: 'system:serviceaccount:ci:runner', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'] };
    const v = sign({ ...sent, user: sa });
    expect(verify(v, { ...seen, user: { username: sa.username, groups: ['system:serviceaccounts:ci', 'system:serviceaccounts', 'system:authenticated'] } }).ok).toBe(true);
    expect(verify(v, { ...seen, user: { username: sa.username, groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:serviceaccounts:prod'] } }).ok).toBe(false);
  });

  it('expires after the validity, tolerates small skew, refuses values from the future', () => {
    const v = sign();
    expect(verify(v, seen, T0 + VALIDITY_SECONDS * 1000).ok).toBe(true);
    expect(verify(v, seen, T0 + VALIDITY_SECONDS * 1000 + 1000)).toEqual({ ok: false, reason: 'expired token' });
    expect(verify(v, seen, T0 - CLOCK_SKEW_SECONDS * 1000).ok).toBe(true);
    expect(verify(v, seen, T0 - CLOCK_SKEW_SECONDS * 1000 - 1000)).toEqual({ ok: false, reason: 'token issued in the future' });
    // Rewriting the time in clear breaks the MAC.
    const parts = v.split('.');
    parts[1] = String(Number(parts[1]) + 20);
    expect(verify(parts.join('.'), seen, T0 + 40_000)).toMatchObject({ ok: false, reason: 'signature does not match this request' });
  });

  it('refuses malformed values, several values, no value, and values signed with another key', () => {
    const v = sign();
    const bad: unknown[] = [
      '', 'v1', 'x'.repeat(5000), v.replace(/^v1/, 'v2'), `${v}.x`, v.slice(0, -1), `${v.slice(0, -1)}=`, v.replace(/\.create\./, '.Create.'),
      v.replace(/\.create\./, '.cre-ate.'), 42, null, { v }, '3cb0a4de29f1c1b7c8e4a1d3b6f2e9a7c5d8b4e1f3a2c6d9e7b5a8c4d1e3f2a6', // the old static marker format
    ];
    for (const b of bad) expect(verify(b).ok).toBe(false);
    const check = proxiedVerifier(key, at(T0));
    expect(check([v, v], seen)).toEqual({ ok: false, reason: '2 values (exactly one is accepted)' });
    expect(check([v, 'junk'], seen).ok).toBe(false);
    expect(check([], seen).ok).toBe(false);
    expect(check(undefined, seen).ok).toBe(false);
    expect(proxiedVerifier(randomBytes(32), at(T0))([v], seen)).toMatchObject({ ok: false, reason: 'signature does not match this request' });
  });

  it('refuses short keys and verbs it cannot encode', () => {
    expect(() => proxiedSigner(randomBytes(16))).toThrow(/at least 32 bytes/);
    expect(() => proxiedVerifier(Buffer.alloc(0))).toThrow(/at least 32 bytes/);
    expect(() => sign({ ...sent, verb: 'CREATE.x' })).toThrow(/cannot sign verb/);
  });
});
