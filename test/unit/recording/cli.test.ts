import { describe, expect, it, afterAll } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileRecorder, findSession, parseAsciicast, type RequestRecord } from '../../../src/recording/index.js';
import { main as sessions } from '../../../src/cli/sessions.js';
import { main as replay } from '../../../src/cli/replay.js';
import { main as verify } from '../../../src/cli/verify.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) }, out: () => out.join(''), err: () => err.join('') };
}

const user = { username: 'agent-ci', groups: ['airlock:agents'] };
let sessionId = '';
let other = '';

function rec(id: string, i: number, action: string, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    type: 'request', time: new Date(Date.UTC(2026, 10, 24, 12, 0, i)).toISOString(), sessionId: id, requestId: `req-${i}`, user,
    method: 'GET', path: '/api/v1/namespaces/prod/secrets', request: { verb: 'list', apiVersion: 'v1', resource: 'secrets', namespace: 'prod' },
    decision: { action, policy: 'ci', rule: `r${i}`, ...(action === 'allow' ? {} : { reason: `${action} because` }), ...(action === 'hold' ? { approval: 'appr-1' } : {}) },
    status: action === 'allow' ? 200 : 403, latencyMs: 5, ...over,
  };
}

describe('recording CLI', () => {
  it('fails naming a recording directory that is not there, rather than finding no sessions', async () => {
    for (const [name, cmd, extra] of [['sessions', sessions, []], ['verify', verify, []], ['replay', replay, ['some-session']]] as const) {
      const o = io();
      expect({ name, code: await cmd(['--dir', join(dir, 'nonexistent'), ...extra], o.io) }).toEqual({ name, code: 1 });
      expect(o.err()).toMatch(/^error: recording directory .*nonexistent does not exist \(set --dir or AIRLOCK_RECORDING_DIR\)/);
    }
  });

  it('setup: records two sessions, one with an exec stream', async () => {
    let now = Date.UTC(2026, 10, 24, 12, 0, 0);
    const r = new FileRecorder({ dir, housekeepingMs: 0, now: () => now });
    sessionId = r.sessionFor(user);
    await r.record(rec(sessionId, 1, 'allow'));
    await r.record(rec(sessionId, 2, 'deny'));
    await r.record(rec(sessionId, 3, 'hold'));
    const w = r.startAsciicast(sessionId, 'req-4', { command: 'sh', cols: 80, rows: 24 });
    w.output('hello from the pod\r\n');
    now += 5000;
    w.output('bye\r\n');
    await w.close();
    await r.record(rec(sessionId, 4, 'allow', { type: 'exec', method: 'POST', request: { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'prod', name: 'web-0' }, asciicast: w.file, status: 101 }));
    now += 60_000;
    other = r.sessionFor({ username: 'agent-2', groups: [] });
    await r.record(rec(other, 9, 'allow'));
    await r.close();
    expect(parseAsciicast(readFileSync(w.file, 'utf8')).events).toHaveLength(2);
  });

  it('sessions lists agent, counts and duration, as a table and as JSON', async () => {
    const t = io();
    expect(await sessions(['--dir', dir], t.io)).toBe(0);
    const lines = t.out().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SESSION\s+AGENT\s+START\s+DURATION\s+REQUESTS\s+DENIALS\s+HOLDS\s+STATE$/);
    expect(lines.find((l) => l.startsWith(sessionId))).toMatch(/agent-ci\s+\S+\s+\S+\s+4\s+1\s+1\s+ended/);
    const j = io();
    expect(await sessions(['--dir', dir, '-o', 'json'], j.io)).toBe(0);
    const parsed = JSON.parse(j.out()) as { sessions: Array<{ sessionId: string; agent: string; requests: number; denials: number; holds: number; execs: number }> };
    expect(parsed.sessions.find((s) => s.sessionId === sessionId)).toMatchObject({ agent: 'agent-ci', requests: 4, denials: 1, holds: 1, execs: 1 });
    expect(parsed.sessions.find((s) => s.sessionId === other)).toMatchObject({ agent: 'agent-2', requests: 1 });
    const bad = io();
    expect(await sessions(['--dir', dir, '-o', 'yaml'], bad.io)).toBe(2);
    expect(await sessions(['--bogus'], io().io)).toBe(2);
  });

  it('replay prints the timeline in order and plays exec streams', async () => {
    const t = io();
    expect(await replay([sessionId, '--dir', dir], t.io)).toBe(0);
    const out = t.out();
    const idx = ['session-start', 'list    secrets -n prod', 'deny [ci/r2]', 'hold [ci/r3] approval=appr-1', 'pods/exec prod/web-0', 'session-end'].map((s) => out.indexOf(s));
    idx.forEach((i) => expect(i).toBeGreaterThan(0));
    expect([...idx].sort((a, b) => a - b)).toEqual(idx);
    expect(out).toContain('use --exec');
    expect(out).not.toContain('hello from the pod');
    const e = io();
    expect(await replay([sessionId, '--dir', dir, '--exec', '--speed', '100'], e.io)).toBe(0);
    expect(e.out()).toContain('hello from the pod\r\nbye\r\n');
    expect(await replay(['nope', '--dir', dir], io().io)).toBe(2);
    expect(await replay([sessionId, '--dir', dir, '--speed', '-1'], io().io)).toBe(2);
  });

  it('replay filters escape sequences from exec output unless --raw', async () => {
    const d = mkdtempSync(join(tmpdir(), 'airlock-cli-esc-'));
    try {
      const r = new FileRecorder({ dir: d, housekeepingMs: 0 });
      const id = r.sessionFor(user);
      const w = r.startAsciicast(id, 'e', {});
      w.output('\x1b[31mred\x1b[0m\x1b]52;c;cm0gLXJmIH4=\x07 done\r\n');
      await w.close();
      await r.record(rec(id, 1, 'allow', { type: 'exec', asciicast: w.file, request: { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'n', name: 'p' } }));
      await r.close();
      const safe = io();
      expect(await replay([id, '--dir', d, '--exec', '--speed', '0'], safe.io)).toBe(0);
      expect(safe.out()).toContain('\x1b[31mred\x1b[0m done\r\n');
      expect(safe.out()).not.toContain('\x1b]52');
      const raw = io();
      expect(await replay([id, '--dir', d, '--exec', '--speed', '0', '--raw'], raw.io)).toBe(0);
      expect(raw.out()).toContain('\x1b]52;c;');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('verify reports OK, then the first broken record with exit code 1', async () => {
    const ok = io();
    expect(await verify(['--dir', dir], ok.io)).toBe(0);
    expect(ok.out()).toContain(`OK        ${sessionId} (6 records)`);
    const file = findSession(dir, sessionId)!.segments[0]!.path;
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original.replace('"action":"deny"', '"action":"allow"'));
    const bad = io();
    expect(await verify(['--dir', dir, sessionId], bad.io)).toBe(1);
    expect(bad.out()).toMatch(new RegExp(`TAMPERED  ${sessionId}: first broken record at .*\\.jsonl:3 \\(seq 2\\): hash does not match`));
    const byFile = io();
    expect(await verify([file], byFile.io)).toBe(1);
    const all = io();
    expect(await verify(['--dir', dir, '-o', 'json'], all.io)).toBe(1);
    const j = JSON.parse(all.out()) as { ok: boolean; sessions: Array<{ sessionId: string; ok: boolean }> };
    expect(j.ok).toBe(false);
    expect(j.sessions.find((s) => s.sessionId === other)?.ok).toBe(true);
    writeFileSync(file, original);
    expect(await verify(['--dir', dir, sessionId], io().io)).toBe(0);
    expect(await verify(['--dir', dir, 'missing'], io().io)).toBe(2);
  });
});
