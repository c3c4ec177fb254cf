// Write-ahead records: intents without an outcome are closed by recovery (reconciled against what the
// cluster shows), and a recorder whose storage fails says so until a probe write succeeds again.
import { describe, expect, it, afterEach } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRecorder, findSession, verifySession, type RequestRecord } from '../../../src/recording/index.js';
import { readSession } from '../../../src/recording/reader.js';
import { dateDirFor, newSessionId, segmentName } from '../../../src/recording/paths.js';
import { judgeOutcome } from '../../../src/recording/reconcile.js';
import type { UserInfo } from '../../../src/policy/types.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'airlock-wal-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const agent: UserInfo = { username: 'agent-ci', groups: ['airlock:agents'] };

function intent(sessionId: string, requestId: string, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    type: 'intent', time: new Date().toISOString(), sessionId, requestId, user: agent, method: 'POST', path: '/api/v1/namespaces/app/configmaps',
    request: { verb: 'create', apiVersion: 'v1', resource: 'configmaps', namespace: 'app', name: `cm-${requestId}` },
    decision: { action: 'allow', policy: 'p', rule: 'r' }, status: 0, latencyMs: 0, attempt: 0, ...over,
  };
}

describe('recovery of write intents', () => {
  it('gives every intent without an outcome a recovered record from the reconciler, ends the session, and keeps the chain valid', async () => {
    const dir = tmp();
    const first = new FileRecorder({ dir, housekeepingMs: 0 });
    const id = first.sessionFor(agent);
    await first.record(intent(id, 'done'));
    await first.record({ ...intent(id, 'done'), type: 'request', status: 201, latencyMs: 4 });
    await first.record(intent(id, 'lost-a'));
    await first.record(intent(id, 'lost-b', { request: { verb: 'delete', apiVersion: 'v1', resource: 'configmaps', namespace: 'app', name: 'old' }, baseResourceVersion: '7' }));
    // The process dies here: no outcome for lost-a and lost-b, no session-end. (The first recorder is
    // abandoned, not closed.)

    const asked: string[] = [];
    const second = new FileRecorder({
      dir, housekeepingMs: 0,
      reconcile: async (i) => {
        asked.push(i.requestId);
        return i.request.verb === 'delete' ? { outcome: 'applied', reason: 'the object no longer exists' } : { outcome: 'not-applied', reason: 'the object does not exist' };
      },
    });
    const result = await second.recover();
    expect(result).toEqual({ sessions: 1, intents: 2 });
    expect(asked.sort()).toEqual(['lost-a', 'lost-b']);

    const files = findSession(dir, id)!;
    const records = readSession(files);
    const recovered = records.filter((r) => r.type === 'recovered');
    expect(recovered.map((r) => [r.requestId, r.recovery?.outcome]).sort()).toEqual([['lost-a', 'not-applied'], ['lost-b', 'applied']]);
    expect(records.at(-1)!.type).toBe('session-end');
    const verified = verifySession(files, dir);
    expect(verified.ok).toBe(true);
    expect(verified.ended).toBe(true);

    // Recovery is done once: a third start finds nothing to do.
    const third = new FileRecorder({ dir, housekeepingMs: 0, reconcile: async () => ({ outcome: 'unknown', reason: 'x' }) });
    expect(await third.recover()).toEqual({ sessions: 0, intents: 0 });
    await Promise.all([second.close(), third.close()]);
  });

  it('records unknown when there is no reconciler or it fails', async () => {
    const dir = tmp();
    const first = new FileRecorder({ dir, housekeepingMs: 0 });
    const id = first.sessionFor(agent);
    await first.record(intent(id, 'a'));
    await first.record(intent(id, 'b'));
    let calls = 0;
    const second = new FileRecorder({
      dir, housekeepingMs: 0,
      reconcile: async () => {
        if (calls++ === 0) throw new Error('apiserver down');
        return { outcome: 'applied', reason: 'ok' };
      },
    });
    await second.recover();
    const rec = readSession(findSession(dir, id)!).filter((r) => r.type === 'recovered');
    expect(rec.map((r) => r.recovery?.outcome).sort()).toEqual(['applied', 'unknown']);
    expect(rec.find((r) => r.recovery?.outcome === 'unknown')!.recovery!.reason).toContain('apiserver down');
    await second.close();
  });
});

describe('recovery across replicas sharing a volume', () => {
  it('leaves a live replica\'s open sessions alone and recovers a dead one\'s exactly once', async () => {
    const dir = tmp();
    const a = new FileRecorder({ dir, housekeepingMs: 0, owner: 'replica-a' });
    const id = a.sessionFor(agent);
    await a.record(intent(id, 'in-flight'));
    const b = new FileRecorder({ dir, housekeepingMs: 0, owner: 'replica-b' });
    expect(await b.recover()).toEqual({ sessions: 0, intents: 0 });
    // replica-a dies: its heartbeat goes stale.
    const past = new Date(Date.now() - 10 * 60_000);
    utimesSync(join(dir, '.owners', 'replica-a'), past, past);
    const c = new FileRecorder({ dir, housekeepingMs: 0, owner: 'replica-c' });
    const results = [await b.recover(), await c.recover()];
    expect(results.map((r) => r.intents).sort()).toEqual([0, 1]);
    const files = findSession(dir, id)!;
    expect(readSession(files).filter((r) => r.type === 'recovered').map((r) => r.requestId)).toEqual(['in-flight']);
    expect(verifySession(files, dir).ok).toBe(true);
    await Promise.all([b.close(), c.close()]);
  });
});

describe('availability', () => {
  it('is false after a failed write and comes back once a probe write is durable', async () => {
    const dir = tmp();
    const rec = new FileRecorder({ dir, housekeepingMs: 0, probeMs: 20 });
    // A session whose segment is not a regular file (a link planted to a device): its records cannot be
    // made durable, and the recorder neither reads nor writes through the link.
    const id = newSessionId(agent.username, new Date());
    const dateDir = join(dir, dateDirFor(id, new Date()));
    mkdirSync(dateDir, { recursive: true });
    symlinkSync('/dev/zero', join(dateDir, segmentName(id, 0)));
    expect(rec.available()).toBe(true);
    await expect(rec.record(intent(id, 'x'))).rejects.toThrow(/not a regular file/);
    expect(rec.available()).toBe(false);
    // The directory itself takes writes: the probe succeeds and the recorder is available again.
    for (let i = 0; i < 100 && !rec.available(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(rec.available()).toBe(true);
    // A new session (the failed one stays failed) records normally.
    const next = rec.sessionFor(agent);
    expect(next).not.toBe(id);
    await rec.record(intent(next, 'y'));
    await rec.close();
  });
});

describe('judgeOutcome', () => {
  const base = intent('s1', 'r');
  const obj = (rv: string, session?: string, extra: Record<string, unknown> = {}) => ({ metadata: { resourceVersion: rv, ...(session ? { annotations: { 'airlock.dev/session': session } } : {}), ...extra } });

  it('create: applied only when the object exists and carries the session', () => {
    expect(judgeOutcome(base, undefined).outcome).toBe('not-applied');
    expect(judgeOutcome(base, obj('5', 's1'))).toEqual({ outcome: 'applied', reason: expect.any(String), resourceVersion: '5' });
    expect(judgeOutcome(base, obj('5', 'other')).outcome).toBe('unknown');
  });

  it('update and patch: unchanged resourceVersion is not applied; a change by this session is applied', () => {
    const upd = { ...base, request: { ...base.request, verb: 'patch' }, baseResourceVersion: '9' };
    expect(judgeOutcome(upd, obj('9', 's1')).outcome).toBe('not-applied');
    expect(judgeOutcome(upd, obj('12', 's1')).outcome).toBe('applied');
    expect(judgeOutcome(upd, obj('12', 'someone')).outcome).toBe('unknown');
    expect(judgeOutcome(upd, undefined).outcome).toBe('unknown');
  });

  it('delete: gone or terminating is applied; unchanged is not applied', () => {
    const del = { ...base, request: { ...base.request, verb: 'delete' }, baseResourceVersion: '3' };
    expect(judgeOutcome(del, undefined).outcome).toBe('applied');
    expect(judgeOutcome(del, obj('4', undefined, { deletionTimestamp: '2026-12-01T00:00:00Z' })).outcome).toBe('applied');
    expect(judgeOutcome(del, obj('3')).outcome).toBe('not-applied');
    expect(judgeOutcome(del, obj('8')).outcome).toBe('unknown');
  });

  it('other verbs are never guessed', () => {
    expect(judgeOutcome({ ...base, request: { ...base.request, verb: 'deletecollection' } }, undefined).outcome).toBe('unknown');
  });
});
