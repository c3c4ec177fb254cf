import { describe, expect, it, afterEach } from '@jest/globals';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, readdirSync, utimesSync, existsSync, unlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FileRecorder, JsonText, ZERO_HASH, canonicalJson, enforceRetention, recordLine, findSession, listSessionFiles, parseAsciicast, recordHash, sha256Hex, toAuditEvent, verifySession,
  type RequestRecord,
} from '../../../src/recording/index.js';
import type { UserInfo } from '../../../src/policy/types.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'airlock-rec-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const agent: UserInfo = { username: 'system:serviceaccount:ci:agent', uid: 'u1', groups: ['airlock:agents'] };

function req(sessionId: string, i: number, over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    type: 'request', time: new Date(Date.UTC(2026, 10, 24, 12, 0, i)).toISOString(), sessionId, requestId: `r-${i}`, user: agent,
    method: 'GET', path: `/api/v1/namespaces/default/pods/p${i}`, request: { verb: 'get', apiVersion: 'v1', resource: 'pods', namespace: 'default', name: `p${i}` },
    decision: i % 3 === 2 ? { action: 'deny', policy: 'ci', rule: 'no-secrets', reason: 'nope' } : { action: 'allow', policy: 'ci', rule: 'read' },
    status: i % 3 === 2 ? 403 : 200, latencyMs: 3, ...over,
  };
}

async function recordN(dir: string, n: number, opts: Partial<ConstructorParameters<typeof FileRecorder>[0]> = {}): Promise<{ rec: FileRecorder; id: string }> {
  const rec = new FileRecorder({ dir, housekeepingMs: 0, ...opts });
  const id = rec.sessionFor(agent);
  await Promise.all(Array.from({ length: n }, (_, i) => rec.record(req(id, i))));
  return { rec, id };
}

function sessionFile(dir: string, id: string): string {
  return findSession(dir, id)!.segments[0]!.path;
}

function verify(dir: string, id: string) {
  return verifySession(findSession(dir, id)!, dir);
}

/** The hash a format 2 line states for itself must be the sha256 of its text without that member. */
function lineHashOk(line: string): boolean {
  const m = /^\{"hash":"([0-9a-f]{64})",/u.exec(line);
  return !!m && m[1] === sha256Hex('{' + line.slice(m[0].length));
}

describe('recordLine (format 2)', () => {
  it('puts the hash first, over the text of the rest, and splices JSON text bodies in as they are', () => {
    const body = '{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"},"data":{"z":"1","a":"\\u00e9\\"\\\\"}}';
    const rec = req('s-1', 4, { requestBody: { metadata: { name: 'x', b: [1, { z: 1, a: 'é"\\' }] } }, responseBody: new JsonText(body), seq: 3, prevHash: ZERO_HASH, hash: 'stale' });
    const { hash, line } = recordLine(rec);
    expect(line.startsWith(`{"hash":"${hash}",`)).toBe(true);
    expect(lineHashOk(line)).toBe(true);
    expect(line).toContain(`"responseBody":${body}`);
    const parsed = JSON.parse(line) as RequestRecord;
    expect(parsed.responseBody).toEqual(JSON.parse(body));
    expect(parsed).toMatchObject({ hash, seq: 3, requestBody: rec.requestBody });
    expect(recordLine({}).line).toBe(`{"hash":"${sha256Hex('{}')}"}`);
  });

  it('a JsonText serialises to its value where the line writer is not used', () => {
    expect(JSON.stringify({ b: new JsonText('{"a":[1,2]}') })).toBe('{"b":{"a":[1,2]}}');
  });
});

describe('FileRecorder hash chain', () => {
  it('writes seq, prevHash and hash per record and verify accepts the chain', async () => {
    const dir = tmp();
    const { rec, id } = await recordN(dir, 10);
    await rec.close();
    const file = sessionFile(dir, id);
    expect(file).toBe(join(dir, `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}`, `${id}.jsonl`));
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as RequestRecord);
    expect(lines).toHaveLength(12);
    expect(lines[0]!.type).toBe('session-start');
    expect(lines.at(-1)!.type).toBe('session-end');
    expect(lines[0]!.prevHash).toBe(ZERO_HASH);
    lines.forEach((r, i) => {
      expect(r.seq).toBe(i);
      expect(lineHashOk(readFileSync(file, 'utf8').split('\n')[i]!)).toBe(true);
      if (i > 0) expect(r.prevHash).toBe(lines[i - 1]!.hash);
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const v = verify(dir, id);
    expect(v).toMatchObject({ ok: true, records: 12, ended: true });
  });

  it('detects an edited, a deleted and a reordered record', async () => {
    const dir = tmp();
    const { rec, id } = await recordN(dir, 6);
    await rec.close();
    const file = sessionFile(dir, id);
    const orig = readFileSync(file, 'utf8');
    const lines = orig.trimEnd().split('\n');

    // Edit: turn a deny into an allow.
    const edited = [...lines];
    edited[3] = edited[3]!.replace('"action":"deny"', '"action":"allow"');
    expect(edited[3]).not.toBe(lines[3]);
    writeFileSync(file, edited.join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 4, seq: 3, message: expect.stringMatching(/edited/) } });

    // Edit that also recomputes the record's own hash: the next record's prevHash breaks.
    const forged = JSON.parse(lines[3]!) as RequestRecord;
    forged.decision = { action: 'allow' };
    writeFileSync(file, [...lines.slice(0, 3), recordLine(forged).line, ...lines.slice(4)].join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 5, message: expect.stringMatching(/seq|prevHash/) } });

    // Delete.
    writeFileSync(file, [...lines.slice(0, 2), ...lines.slice(3)].join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 3, message: expect.stringMatching(/deleted/) } });

    // Reorder.
    writeFileSync(file, [lines[0], lines[2], lines[1], ...lines.slice(3)].join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 2 } });

    // Garbage line.
    writeFileSync(file, [lines[0], '{not json', ...lines.slice(1)].join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 2, message: expect.stringMatching(/not valid JSON/) } });

    // Restored: fine again.
    writeFileSync(file, orig);
    expect(verify(dir, id).ok).toBe(true);
  });

  it('drops a torn (unterminated) final line with a warning, and continues the chain after a restart', async () => {
    const dir = tmp();
    const { rec, id } = await recordN(dir, 3);
    const file = sessionFile(dir, id);
    writeFileSync(file, readFileSync(file, 'utf8') + '{"seq":4,"type":"requ', { flag: 'w' });
    let v = verify(dir, id);
    expect(v.ok).toBe(true);
    expect(v.warnings.map((w) => w.message).join()).toMatch(/torn final line/);
    // A torn line in the middle is not tolerated.
    await rec.close().catch(() => undefined);
    // A new recorder (restart) appends to the same session: the torn tail is cut, the chain continues.
    const dir2 = tmp();
    const first = await recordN(dir2, 2);
    const f2 = sessionFile(dir2, first.id);
    writeFileSync(f2, readFileSync(f2, 'utf8') + '{"torn":', { flag: 'w' });
    const rec2 = new FileRecorder({ dir: dir2, housekeepingMs: 0 });
    await rec2.record(req(first.id, 50));
    await rec2.record(req(first.id, 51));
    await rec2.close();
    v = verify(dir2, first.id);
    expect(v).toMatchObject({ ok: true, records: 6, warnings: [] });
  });

  it('truncates bodies past the limit to a stub with size and hash', async () => {
    const dir = tmp();
    const rec = new FileRecorder({ dir, housekeepingMs: 0, maxBodyBytes: 100 });
    const id = rec.sessionFor(agent);
    const big = { items: 'z'.repeat(500) };
    await rec.record(req(id, 1, { requestBody: { small: true }, responseBody: big }));
    await rec.close();
    const r = JSON.parse(readFileSync(sessionFile(dir, id), 'utf8').split('\n')[1]!) as RequestRecord;
    expect(r.requestBody).toEqual({ small: true });
    expect(r.responseBody).toEqual({ 'airlock.dev/truncated': true, bytes: JSON.stringify(big).length, sha256: sha256Hex(JSON.stringify(big)), head: JSON.stringify(big).slice(0, 100) });
    expect(verify(dir, id).ok).toBe(true);
  });

  it('rejects session ids that are not safe file names', async () => {
    const dir = tmp();
    const rec = new FileRecorder({ dir, housekeepingMs: 0 });
    await expect(rec.record(req('../../etc/passwd', 1))).rejects.toThrow(/invalid sessionId/);
    expect(() => rec.startAsciicast('a/b', 'r', {})).toThrow(/invalid sessionId/);
    await rec.close();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('sessions', () => {
  it('keeps one session per identity and starts a new one after the idle timeout', async () => {
    const dir = tmp();
    let now = Date.UTC(2026, 10, 24, 12, 0, 0);
    const rec = new FileRecorder({ dir, housekeepingMs: 0, idleTimeoutMs: 30 * 60_000, now: () => now });
    const a = rec.sessionFor(agent);
    now += 29 * 60_000;
    expect(rec.sessionFor(agent)).toBe(a);
    const other = rec.sessionFor({ username: 'bot2', groups: [] });
    expect(other).not.toBe(a);
    await rec.record(req(a, 1));
    now += 31 * 60_000;
    const b = rec.sessionFor(agent);
    expect(b).not.toBe(a);
    await rec.record(req(b, 2));
    await rec.close();
    const sessions = listSessionFiles(dir).map((s) => s.sessionId).sort();
    expect(sessions).toEqual([a, b, other].sort());
    for (const id of sessions) expect(verify(dir, id)).toMatchObject({ ok: true, ended: true });
    const recsA = readFileSync(sessionFile(dir, a), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as RequestRecord);
    expect(recsA.map((r) => r.type)).toEqual(['session-start', 'request', 'session-end']);
  });

  it('housekeeping ends idle sessions', async () => {
    const dir = tmp();
    let now = Date.now();
    const rec = new FileRecorder({ dir, housekeepingMs: 0, idleTimeoutMs: 1000, now: () => now });
    const id = rec.sessionFor(agent);
    await rec.record(req(id, 1));
    now += 5000;
    await rec.housekeep();
    expect(rec.openSessions()).toEqual([]);
    expect(verify(dir, id)).toMatchObject({ ok: true, ended: true });
    // A late record for the ended session continues its chain.
    await rec.record(req(id, 2));
    await rec.close();
    expect(verify(dir, id)).toMatchObject({ ok: true, records: 5 });
  });
});

describe('durability policies and rotation', () => {
  it('interval policy batches records and acknowledges them after the sync', async () => {
    const dir = tmp();
    const rec = new FileRecorder({ dir, housekeepingMs: 0, fsync: { intervalMs: 20 } });
    const id = rec.sessionFor(agent);
    const acked: number[] = [];
    const all = Array.from({ length: 50 }, (_, i) => rec.record(req(id, i)).then(() => acked.push(i)));
    expect(acked).toEqual([]);
    await Promise.all(all);
    expect(acked).toHaveLength(50);
    const lines = readFileSync(sessionFile(dir, id), 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(51);
    await rec.close();
    expect(verify(dir, id).ok).toBe(true);
  });

  it('rotates by size, carries the chain across segments and detects a missing segment', async () => {
    const dir = tmp();
    const { rec, id } = await recordN(dir, 40, { maxFileBytes: 2048 });
    await rec.close();
    const files = findSession(dir, id)!;
    expect(files.segments.length).toBeGreaterThan(3);
    files.segments.forEach((s, i) => {
      expect(s.segment).toBe(i);
      expect(s.path.endsWith(i === 0 ? `${id}.jsonl` : `${id}.${i}.jsonl`)).toBe(true);
      expect(statSync(s.path).size).toBeLessThanOrEqual(2048);
    });
    const second = JSON.parse(readFileSync(files.segments[1]!.path, 'utf8').split('\n')[0]!) as RequestRecord;
    const firstLines = readFileSync(files.segments[0]!.path, 'utf8').trimEnd().split('\n');
    expect(second.prevHash).toBe((JSON.parse(firstLines.at(-1)!) as RequestRecord).hash);
    expect(verify(dir, id)).toMatchObject({ ok: true, records: 42 });
    unlinkSync(files.segments[1]!.path);
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { message: expect.stringMatching(/segment 1 .*missing/) } });
  });

  it('retention deletes whole sessions by age, then oldest first by total size, never open ones', async () => {
    const dir = tmp();
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { rec, id } = await recordN(dir, 5);
      await rec.close();
      ids.push(id);
      const t = Date.now() / 1000 - (4 - i) * 86400; // ids[0] oldest
      for (const f of readdirSync(findSession(dir, id)!.dateDir)) if (f.startsWith(id)) utimesSync(join(findSession(dir, id)!.dateDir, f), t, t);
    }
    const r1 = enforceRetention(dir, { maxAgeMs: 3.5 * 86400_000 });
    expect(r1.deletedSessions).toEqual([ids[0]]);
    const size = (id: string) => statSync(sessionFile(dir, id)).size;
    const r2 = enforceRetention(dir, { maxTotalBytes: size(ids[1]!) + size(ids[3]!) + 10 }, { keep: new Set([ids[1]!]) });
    expect(r2.deletedSessions).toEqual([ids[2]]);
    expect(listSessionFiles(dir).map((s) => s.sessionId).sort()).toEqual([ids[1], ids[3]].sort());
    const r3 = enforceRetention(dir, { maxTotalBytes: 0 });
    expect(r3.deletedSessions.sort()).toEqual([ids[1], ids[3]].sort());
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('asciicast and audit', () => {
  it('writes valid asciicast v2, references it from the record with its sha256, and verify checks it', async () => {
    const dir = tmp();
    let now = 1_700_000_000_000;
    const rec = new FileRecorder({ dir, housekeepingMs: 0, now: () => now });
    const id = rec.sessionFor(agent);
    const w = rec.startAsciicast(id, 'exec-1', { command: 'sh -c ls', cols: 120, rows: 40 });
    w.output('$ ');
    now += 250;
    w.input('ls\r');
    now += 100;
    w.output(Buffer.from('fïle\r\n', 'utf8').subarray(0, 2));
    w.output(Buffer.from('fïle\r\n', 'utf8').subarray(2));
    w.resize(100, 30);
    await w.close();
    const cast = parseAsciicast(readFileSync(w.file, 'utf8'));
    expect(cast.header).toMatchObject({ version: 2, width: 120, height: 40, command: 'sh -c ls', timestamp: 1_700_000_000 });
    expect(cast.events).toEqual([[0, 'o', '$ '], [0.25, 'i', 'ls\r'], [0.35, 'o', 'f'], [0.35, 'o', 'ïle\r\n'], [0.35, 'r', '100x30']]);
    await rec.record(req(id, 1, { type: 'exec', method: 'POST', request: { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'd', name: 'p' }, asciicast: w.file }));
    await rec.close();
    const lines = readFileSync(sessionFile(dir, id), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as RequestRecord);
    expect(lines[1]!.asciicast).toBe(w.file.slice(dir.length + 1));
    expect(lines[1]!.asciicastSha256).toBe(sha256Hex(readFileSync(w.file)));
    expect(verify(dir, id).ok).toBe(true);
    writeFileSync(w.file, readFileSync(w.file, 'utf8').replace('ls\\r', 'rm -rf /\\r'));
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { message: expect.stringMatching(/asciicast .* sha256/) } });
    unlinkSync(w.file);
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { message: expect.stringMatching(/missing/) } });
  });

  it('reports a failed asciicast on close instead of crashing the process', async () => {
    const dir = tmp();
    const rec = new FileRecorder({ dir, housekeepingMs: 0 });
    const id = rec.sessionFor(agent);
    const a = rec.startAsciicast(id, 'same', {});
    // a's file exists before b opens the same path (two opens in flight could finish in either order).
    await a.close();
    const b = rec.startAsciicast(id, 'same', {}); // the file exists: 'wx' refuses to overwrite evidence
    b.output('x');
    await expect(b.close()).rejects.toThrow(/EEXIST/);
    await rec.close();
  });

  it('converts records to audit.k8s.io/v1 events and appends them to an audit log', async () => {
    const dir = tmp();
    const auditLog = join(dir, 'audit.log');
    const rec = new FileRecorder({ dir, housekeepingMs: 0, auditLog });
    const id = rec.sessionFor(agent);
    await rec.record(req(id, 2, { sourceIP: '10.0.0.7', userAgent: 'kubectl/v1.34.4', latencyMs: 12.5 }));
    await rec.record(req(id, 3));
    await rec.close();
    const events = readFileSync(auditLog, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      kind: 'Event', apiVersion: 'audit.k8s.io/v1', level: 'RequestResponse', stage: 'ResponseComplete', auditID: 'r-2', verb: 'get',
      requestURI: '/api/v1/namespaces/default/pods/p2', user: { username: agent.username, uid: 'u1', groups: ['airlock:agents'] },
      sourceIPs: ['10.0.0.7'], userAgent: 'kubectl/v1.34.4',
      objectRef: { resource: 'pods', namespace: 'default', name: 'p2', apiGroup: '', apiVersion: 'v1' },
      responseStatus: { code: 403, status: 'Failure', message: 'nope' },
      requestReceivedTimestamp: '2026-11-24T12:00:02.000000Z', stageTimestamp: '2026-11-24T12:00:02.012500Z',
      annotations: { 'airlock.dev/decision': 'deny', 'airlock.dev/policy': 'ci', 'airlock.dev/rule': 'no-secrets', 'airlock.dev/session': id, 'airlock.dev/seq': '1' },
    });
    expect(events[1].responseStatus).toEqual({ metadata: {}, code: 200 });
    expect(toAuditEvent(req(id, 4, { type: 'exec' })).verb).toBe('get');
    expect(existsSync(auditLog)).toBe(true);
  });
});

describe('verify across line formats', () => {
  /** A format 1 line, as recorders before format 2 wrote them: canonical JSON with the hash among the keys. */
  function format1Line(rec: RequestRecord): string {
    return canonicalJson({ ...rec, hash: recordHash(rec) });
  }

  it('verifies a session whose older lines are format 1 and newer ones format 2, and finds edits in either', async () => {
    const dir = tmp();
    const { rec, id } = await recordN(dir, 4);
    await rec.close();
    const file = sessionFile(dir, id);
    const v2 = readFileSync(file, 'utf8').trimEnd().split('\n');
    // Rewrite the first two records in format 1 and chain the rest on from them.
    const recs = v2.map((l) => JSON.parse(l) as RequestRecord);
    const lines: string[] = [];
    let prev = ZERO_HASH;
    recs.forEach((r, i) => {
      const { hash: _h, ...rest } = r;
      const next = { ...rest, prevHash: prev } as RequestRecord;
      const line = i < 2 ? format1Line(next) : recordLine(next).line;
      prev = (JSON.parse(line) as RequestRecord).hash!;
      lines.push(line);
    });
    expect(lines[0]!.startsWith('{"hash"')).toBe(false);
    expect(lines[2]!.startsWith('{"hash"')).toBe(true);
    writeFileSync(file, lines.join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: true, records: 6 });

    expect(lines[1]).toContain('"status":200');
    writeFileSync(file, [lines[0], lines[1]!.replace('"status":200', '"status":201'), ...lines.slice(2)].join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 2, message: expect.stringMatching(/edited/) } });
    // Whitespace is content in format 2: the hash is over the text.
    writeFileSync(file, [...lines.slice(0, 3), lines[3]!.replace('"status":', '"status": '), ...lines.slice(4)].join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 4, message: expect.stringMatching(/edited/) } });
    // A second hash member, or a shortened one, does not pass either.
    const again = lines[3]!.slice(0, -1) + `,"hash":"${'0'.repeat(64)}"}`;
    writeFileSync(file, [...lines.slice(0, 3), again, ...lines.slice(4)].join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 4 } });
    writeFileSync(file, [...lines.slice(0, 3), lines[3]!.replace(/^\{"hash":"[0-9a-f]{2}/u, '{"hash":"'), ...lines.slice(4)].join('\n') + '\n');
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 4 } });
  });

  it('finds an edit inside a body that was spliced in as JSON text', async () => {
    const dir = tmp();
    const rec = new FileRecorder({ dir, housekeepingMs: 0 });
    const id = rec.sessionFor(agent);
    await rec.record(req(id, 1, { responseBody: new JsonText('{"kind":"Secret","data":{"password":"airlock-masked:abc"}}') }));
    await rec.close();
    const file = sessionFile(dir, id);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('"responseBody":{"kind":"Secret","data":{"password":"airlock-masked:abc"}}');
    expect(verify(dir, id)).toMatchObject({ ok: true, records: 3 });
    writeFileSync(file, text.replace('airlock-masked:abc', 'airlock-masked:abd'));
    expect(verify(dir, id)).toMatchObject({ ok: false, error: { line: 2, message: expect.stringMatching(/edited/) } });
  });
});
