import { describe, expect, it } from '@jest/globals';
import { bearerToken, forwardableHeaders, impersonationAttempt, responseHeaders, upstreamIdentityHeaders, WS_TOKEN_PREFIX } from '../../../src/proxy/headers.js';

describe('forwardableHeaders', () => {
  it('drops credentials, identity claims and hop-by-hop headers', () => {
    const out = forwardableHeaders({
      authorization: 'Bearer x',
      'impersonate-user': 'admin',
      'x-remote-user': 'admin',
      'x-remote-group': 'system:masters',
      'x-forwarded-for': '1.2.3.4',
      forwarded: 'for=1.2.3.4',
      connection: 'keep-alive, x-custom',
      'x-custom': 'hop',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'content-length': '3',
      host: 'proxy',
      accept: 'application/json',
      'user-agent': 'kubectl',
    });
    expect(out).toEqual({ accept: 'application/json', 'user-agent': 'kubectl' });
  });
  it('keeps Upgrade for protocol upgrades and strips token subprotocols', () => {
    const out = forwardableHeaders({ connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': `v5.channel.k8s.io, ${WS_TOKEN_PREFIX}abc` }, true);
    expect(out).toEqual({ connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-protocol': 'v5.channel.k8s.io' });
  });
});

describe('identity', () => {
  it('detects impersonation attempts in any case', () => {
    expect(impersonationAttempt({ 'impersonate-extra-scopes': 'x' })).toBe('impersonate-extra-scopes');
    expect(impersonationAttempt({ accept: 'x' })).toBeUndefined();
  });
  it('builds one Impersonate-Group per group and percent-encodes extra keys', () => {
    const h = upstreamIdentityHeaders({ Authorization: 'Bearer proxy' }, { username: 'a', uid: 'u1', groups: ['g1', 'g2', 'system:authenticated'], extra: { 'oidc.airlock.dev/team': ['x'] } });
    expect(h).toEqual({
      authorization: 'Bearer proxy',
      'impersonate-user': 'a',
      'impersonate-uid': 'u1',
      'impersonate-group': ['g1', 'g2'],
      'impersonate-extra-oidc.airlock.dev%2fteam': ['x'],
    });
  });
  it('reads bearer tokens from Authorization or the WebSocket subprotocol', () => {
    expect(bearerToken({ authorization: 'Bearer abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'Basic abc' })).toBeUndefined();
    expect(bearerToken({ 'sec-websocket-protocol': `v5.channel.k8s.io, ${WS_TOKEN_PREFIX}${Buffer.from('tok').toString('base64url')}` })).toBe('tok');
  });
  it('strips hop-by-hop response headers', () => {
    expect(responseHeaders({ connection: 'close', 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'audit-id': 'x' })).toEqual({ 'content-type': 'application/json', 'audit-id': 'x' });
  });
});
