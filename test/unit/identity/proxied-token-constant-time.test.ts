// The MAC comparison goes through crypto.timingSafeEqual (no early-exit compare leaking a prefix).
// node:crypto is replaced by a spying wrapper before the module under test is loaded.
import { describe, expect, it, jest } from '@jest/globals';
import * as actual from 'node:crypto';

const timingSafeEqual = jest.fn(actual.timingSafeEqual);
jest.unstable_mockModule('node:crypto', () => ({ ...actual, timingSafeEqual }));
const { proxiedSigner, proxiedVerifier } = await import('../../../src/identity/proxied-token.js');

describe('proxied token: constant-time compare', () => {
  it('verifies through timingSafeEqual over the full 32-byte MACs', () => {
    const key = actual.randomBytes(32);
    const now = () => 1_750_000_000_000;
    const user = { username: 'agent-ci', groups: ['airlock:agents'] };
    const v = proxiedSigner(key, now)({ user, verb: 'create', apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'a', name: 'p' });
    const seen = { user, operation: 'CREATE' as const, apiGroup: '', apiVersion: 'v1', resource: 'pods', namespace: 'a', name: 'p', dryRun: false };
    expect(proxiedVerifier(key, now)([v], seen)).toEqual({ ok: true });
    expect(proxiedVerifier(key, now)([v], { ...seen, name: 'q' }).ok).toBe(false); // refused before any MAC work
    expect(proxiedVerifier(key, now)([v], { ...seen, namespace: 'b' }).ok).toBe(false);
    expect(timingSafeEqual).toHaveBeenCalledTimes(2);
    for (const [a, b] of timingSafeEqual.mock.calls as unknown as [Buffer, Buffer][]) {
      expect(a.length).toBe(32);
      expect(b.length).toBe(32);
    }
  });
});
