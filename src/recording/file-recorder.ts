// FileRecorder: append-only, hash-chained JSON Lines per session, acknowledged only after fsync.
//
// Durability policies:
//  - 'always' (default): record() resolves after the line is written and fdatasync'd. Records that arrive
//    while a sync is in flight are written together with ONE sync (group commit), so throughput under
//    load is bounded by sync latency, not by the number of records.
//  - { intervalMs }: records are collected for up to intervalMs and then written and synced together;
//    each record() still resolves only after its sync, so nothing acknowledged can be lost, but every
//    request waits up to intervalMs longer. Trade-off: fewer syncs (less disk load) for added latency.
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { open as openFile, unlink } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { createMetrics, type Metrics } from '../metrics/registry.js';
import type { UserInfo } from '../policy/types.js';
import { AsciicastFileWriter } from './asciicast.js';
import { AuditLogWriter } from './audit.js';
import { sha256Hex } from './canonical.js';
import { JsonText, recordLine } from './record-line.js';
import { assertValidId, castName, dateDirFor, newSessionId } from './paths.js';
import { SessionFile } from './session-file.js';
import { enforceRetention, type RetentionPolicy, type RetentionResult } from './retention.js';
import { findOrphanedIntents, recoveredRecord, type Reconciler } from './recovery.js';
import { SessionOwnership } from './owners.js';
import type { AsciicastWriter, Recorder, RequestRecord } from './types.js';

export type FsyncPolicy = 'always' | { intervalMs: number };

export interface FileRecorderOptions {
  dir: string;
  fsync?: FsyncPolicy;
  /** A session ends after this much inactivity (default 30 min). */
  idleTimeoutMs?: number;
  /** Rotate a session file past this size (default 64 MiB). */
  maxFileBytes?: number;
  retention?: RetentionPolicy;
  /** How often retention and idle sessions are checked (default 60 s; 0 disables the timer). */
  housekeepingMs?: number;
  /** Also append audit.k8s.io/v1 events to this file. */
  auditLog?: string;
  /** Largest asciicast per exec stream (default 64 MiB). */
  maxAsciicastBytes?: number;
  /** Request/response bodies larger than this (serialised) are truncated (default 64 KiB). */
  maxBodyBytes?: number;
  /** Who writes (a stable replica identity); sessions name it so recovery leaves other live replicas' alone. */
  owner?: string;
  /** A replica whose heartbeat is older than this is dead; its open sessions are recovered (default 60 s). */
  ownerStaleMs?: number;
  /** Reconciles recovered intents against the cluster (at start-up and at housekeeping). */
  reconcile?: Reconciler;
  /** While unavailable, how often a probe write checks whether records can be made durable again (default 1 s). */
  probeMs?: number;
  now?: () => number;
  /** Where bytes written, failed writes and availability are published (default: a registry of the recorder's own). */
  metrics?: Pick<Metrics, 'recordingBytesTotal' | 'recordingErrorsTotal' | 'recordingAvailable'>;
}

interface Pending {
  rec: RequestRecord;
  resolve: () => void;
  reject: (err: Error) => void;
}

interface Session {
  id: string;
  dateDir: string;
  userKey?: string;
  lastActivity: number;
  file: SessionFile;
  failed?: Error;
  pending: Pending[];
  flushing: boolean;
  timer?: NodeJS.Timeout;
  idle?: Promise<void>;
}

/** Marks a stub that is already bounded (the proxy's capture of a large response): not measured again. */
export const BOUNDED_BODY = Symbol('airlock.boundedBody');

/** Keeps a body within the limit: larger ones become a stub with their size, hash and the first bytes. */
export function limitBody(body: unknown, max: number): unknown {
  if (typeof body === 'object' && body !== null && (body as { [BOUNDED_BODY]?: boolean })[BOUNDED_BODY]) return body;
  const text = typeof body === 'string' ? body : body instanceof JsonText ? body.text : JSON.stringify(body);
  if (text === undefined || Buffer.byteLength(text, 'utf8') <= max) return body;
  return { 'airlock.dev/truncated': true, bytes: Buffer.byteLength(text, 'utf8'), sha256: sha256Hex(text), head: text.slice(0, max) };
}

function userKey(u: UserInfo): string {
  return `${u.username}\u0000${u.uid ?? ''}`;
}

export class FileRecorder implements Recorder {
  readonly dir: string;
  private readonly fsync: FsyncPolicy;
  private readonly idleMs: number;
  private readonly maxFileBytes: number;
  private readonly retention?: RetentionPolicy;
  private readonly maxCastBytes?: number;
  private readonly maxBodyBytes: number;
  private readonly now: () => number;
  private readonly audit?: AuditLogWriter;
  private readonly sessions = new Map<string, Session>();
  private readonly byUser = new Map<string, string>();
  private readonly users = new Map<string, UserInfo>();
  private readonly castHashes = new Map<string, AsciicastFileWriter>();
  private readonly housekeeping?: NodeJS.Timeout;
  private readonly probeMs: number;
  private probe?: NodeJS.Timeout;
  private readonly ownership: SessionOwnership;
  private readonly reconcile?: Reconciler;
  private readonly metrics: NonNullable<FileRecorderOptions['metrics']>;
  private closed = false;

  constructor(opts: FileRecorderOptions) {
    this.dir = opts.dir;
    this.fsync = opts.fsync ?? 'always';
    if (this.fsync !== 'always' && !(this.fsync.intervalMs > 0)) throw new Error('fsync interval must be > 0 ms');
    this.idleMs = opts.idleTimeoutMs ?? 30 * 60 * 1000;
    this.maxFileBytes = opts.maxFileBytes ?? 64 * 1024 * 1024;
    this.retention = opts.retention;
    this.maxCastBytes = opts.maxAsciicastBytes;
    this.maxBodyBytes = opts.maxBodyBytes ?? 64 * 1024;
    this.now = opts.now ?? Date.now;
    this.probeMs = opts.probeMs ?? 1000;
    this.reconcile = opts.reconcile;
    this.metrics = opts.metrics ?? createMetrics();
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.metrics.recordingAvailable.set(1);
    this.ownership = new SessionOwnership(this.dir, opts.owner ?? `${hostname()}-${process.pid}`, opts.ownerStaleMs ?? 60_000, this.now);
    this.ownership.start();
    if (opts.auditLog) this.audit = new AuditLogWriter(opts.auditLog, this.metrics);
    const every = opts.housekeepingMs ?? 60_000;
    if (every > 0) {
      this.housekeeping = setInterval(() => void this.housekeep().catch(() => this.metrics.recordingErrorsTotal.inc()), every);
      this.housekeeping.unref();
    }
  }

  sessionFor(user: UserInfo): string {
    if (this.closed) throw new Error('recorder is closed');
    const key = userKey(user);
    const now = this.now();
    const current = this.byUser.get(key);
    const s = current ? this.sessions.get(current) : undefined;
    if (s && !s.failed && now - s.lastActivity < this.idleMs) {
      s.lastActivity = now;
      return s.id;
    }
    if (s) void this.endSession(s).catch(() => undefined);
    const id = newSessionId(user.username, new Date(now));
    const fresh = this.newSession(id, new Date(now));
    fresh.userKey = key;
    this.byUser.set(key, id);
    this.users.set(id, user);
    void this.enqueue(fresh, this.marker('session-start', id, user, now)).catch(() => undefined);
    return id;
  }

  record(rec: RequestRecord): Promise<void> {
    if (this.closed) return Promise.reject(new Error('recorder is closed'));
    try {
      assertValidId(rec.sessionId, 'sessionId');
    } catch (err) {
      this.metrics.recordingErrorsTotal.inc();
      return Promise.reject(err as Error);
    }
    const s = this.sessions.get(rec.sessionId) ?? this.reopen(rec.sessionId, rec.user, rec.time);
    s.lastActivity = Math.max(s.lastActivity, this.now());
    const copy: RequestRecord = { ...rec };
    delete copy.seq;
    delete copy.prevHash;
    delete copy.hash;
    if (copy.requestBody !== undefined) copy.requestBody = limitBody(copy.requestBody, this.maxBodyBytes);
    if (copy.responseBody !== undefined) copy.responseBody = limitBody(copy.responseBody, this.maxBodyBytes);
    if (copy.asciicast) {
      const writer = this.castHashes.get(copy.asciicast);
      if (writer) {
        if (writer.sha256) copy.asciicastSha256 = writer.sha256;
        this.castHashes.delete(writer.file);
        this.castHashes.delete(relative(this.dir, writer.file));
      }
      if (isAbsolute(copy.asciicast)) {
        const rel = relative(this.dir, copy.asciicast);
        if (!rel.startsWith('..')) copy.asciicast = rel;
      }
    }
    return this.enqueue(s, copy);
  }

  available(): boolean {
    return this.probe === undefined;
  }

  startAsciicast(sessionId: string, requestId: string, meta: { command?: string; cols?: number; rows?: number }): AsciicastWriter {
    assertValidId(sessionId, 'sessionId');
    const s = this.sessions.get(sessionId);
    const dateDir = s?.dateDir ?? join(this.dir, dateDirFor(sessionId, new Date(this.now())));
    mkdirSync(dateDir, { recursive: true, mode: 0o700 });
    const file = join(dateDir, castName(sessionId, requestId));
    const w = new AsciicastFileWriter(file, this.metrics, { ...meta, maxBytes: this.maxCastBytes, now: this.now });
    // Once closed, its sha256 goes into the record that references it (tamper evidence for the stream).
    this.castHashes.set(file, w);
    this.castHashes.set(relative(this.dir, file), w);
    return w;
  }

  /**
   * Closes what a killed process left open: every intent without an outcome gets a `recovered` record
   * (reconciled against the cluster when a reconciler is given) and the session its session-end.
   */
  async recover(): Promise<{ sessions: number; intents: number }> {
    let intents = 0;
    this.ownership.beginPass();
    const mine = new Set(this.sessions.keys());
    const orphaned = findOrphanedIntents(this.dir, (files) => !mine.has(files.sessionId) && this.ownership.mayRecover(files));
    const reconcile = this.reconcile;
    for (const { sessionId, intents: open } of orphaned) {
      for (const intent of open) {
        const outcome = reconcile
          ? await reconcile(intent).catch((err: unknown) => ({ outcome: 'unknown' as const, reason: `reconciliation failed: ${(err as Error).message}` }))
          : { outcome: 'unknown' as const, reason: 'not reconciled against the cluster' };
        await this.record(recoveredRecord(intent, outcome, new Date(this.now())));
        intents++;
      }
      const s = this.sessions.get(sessionId) ?? this.reopen(sessionId, open[0]?.user);
      await this.endSession(s);
    }
    return { sessions: orphaned.length, intents };
  }

  /** Ends idle sessions, recovers dead replicas' sessions and applies retention; runs on a timer, callable directly. */
  async housekeep(): Promise<RetentionResult | undefined> {
    await this.recover();
    const now = this.now();
    const ending: Promise<void>[] = [];
    for (const s of this.sessions.values()) {
      if (now - s.lastActivity >= this.idleMs && !s.pending.length && !s.flushing) ending.push(this.endSession(s).catch(() => undefined));
    }
    await Promise.all(ending);
    if (!this.retention) return undefined;
    return enforceRetention(this.dir, this.retention, { now, keep: new Set(this.sessions.keys()) });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.housekeeping) clearInterval(this.housekeeping);
    this.markAvailable();
    await Promise.all([...this.sessions.values()].map((s) => this.endSession(s).catch(() => undefined)));
    this.ownership.stop();
    this.closed = true;
    await this.audit?.close();
  }

  /** Ids of the sessions this recorder has open. */
  openSessions(): string[] {
    return [...this.sessions.keys()];
  }

  /** A session this recorder has not open (a late record, a restart): its files continue the chain. */
  private reopen(id: string, user: UserInfo | undefined, time?: string): Session {
    const t = time ? Date.parse(time) : NaN;
    const s = this.newSession(id, new Date(Number.isFinite(t) ? t : this.now()));
    this.users.set(s.id, user ?? { username: 'unknown', groups: [] });
    return s;
  }

  private markAvailable(): void {
    if (!this.probe) return;
    clearInterval(this.probe);
    this.probe = undefined;
    this.metrics.recordingAvailable.set(1);
  }

  /**
   * Records cannot be made durable: available() is false until a probe write of two bodies' worth of
   * bytes is synced. A small record that still fits proves no headroom, so it does not end this state;
   * writes keep trying on their own meanwhile (each refused with a 503 if its intent fails).
   */
  private markUnavailable(): void {
    this.metrics.recordingAvailable.set(0);
    if (this.probe || this.closed) return;
    let probing = false;
    this.probe = setInterval(() => {
      if (probing) return;
      probing = true;
      void this.probeWrite().then(
        () => this.markAvailable(),
        () => undefined,
      ).finally(() => (probing = false));
    }, this.probeMs);
    this.probe.unref();
  }

  private async probeWrite(): Promise<void> {
    const path = join(this.dir, '.airlock-probe');
    const fh = await openFile(path, 'w', 0o600);
    try {
      await fh.write(Buffer.alloc(this.maxBodyBytes * 2, 0x20));
      await fh.datasync();
    } finally {
      await fh.close();
      await unlink(path).catch(() => undefined);
    }
  }

  private newSession(id: string, start: Date): Session {
    assertValidId(id, 'sessionId');
    const dateDir = join(this.dir, dateDirFor(id, start));
    const s: Session = {
      id,
      dateDir,
      lastActivity: this.now(),
      file: new SessionFile(dateDir, id, this.metrics),
      pending: [],
      flushing: false,
    };
    this.sessions.set(id, s);
    return s;
  }

  private marker(type: 'session-start' | 'session-end', sessionId: string, user: UserInfo, at: number): RequestRecord {
    return {
      type,
      time: new Date(at).toISOString(),
      sessionId,
      requestId: `${sessionId}-${type}`,
      user,
      method: '',
      path: '',
      request: { verb: type },
      decision: { action: type === 'session-start' ? 'start' : 'end' },
      status: 0,
      latencyMs: 0,
      ...(type === 'session-start' ? { owner: this.ownership.owner } : {}),
    };
  }

  private async endSession(s: Session): Promise<void> {
    if (s.idle) return s.idle;
    const user = this.users.get(s.id) ?? { username: 'unknown', groups: [] };
    s.idle = (async () => {
      try {
        if (!s.failed) await this.enqueue(s, this.marker('session-end', s.id, user, this.now()), true);
      } finally {
        if (s.timer) clearTimeout(s.timer);
        await s.file.close().catch(() => undefined);
        this.sessions.delete(s.id);
        this.users.delete(s.id);
        if (s.userKey && this.byUser.get(s.userKey) === s.id) this.byUser.delete(s.userKey);
      }
    })();
    return s.idle;
  }

  private enqueue(s: Session, rec: RequestRecord, force = false): Promise<void> {
    if (s.failed) return Promise.reject(s.failed);
    if (s.idle && !force) {
      // The session ended meanwhile (idle): reopen it as a new chain continuation.
      return s.idle.then(() => this.record(rec));
    }
    return new Promise<void>((resolve, reject) => {
      s.pending.push({ rec, resolve, reject });
      if (this.fsync === 'always' || force) {
        if (!s.flushing) void this.flush(s);
      } else if (!s.timer && !s.flushing) {
        s.timer = setTimeout(() => {
          s.timer = undefined;
          void this.flush(s);
        }, this.fsync.intervalMs);
      }
    });
  }

  private async flush(s: Session): Promise<void> {
    if (s.flushing) return;
    s.flushing = true;
    try {
      while (s.pending.length) {
        const batch = s.pending.splice(0);
        const f = s.file;
        const saved = { seq: f.seq, prevHash: f.prevHash, bytes: f.bytes, segment: f.segment };
        try {
          if (!f.isOpen) await f.open();
          let chunk: Buffer[] = [];
          let chunkBytes = 0;
          const written: RequestRecord[] = [];
          for (const p of batch) {
            const rec = p.rec;
            rec.seq = f.seq;
            rec.prevHash = f.prevHash;
            const hashed = recordLine(rec);
            rec.hash = hashed.hash;
            const line = Buffer.from(hashed.line + '\n', 'utf8');
            if (f.bytes + chunkBytes > 0 && f.bytes + chunkBytes + line.length > this.maxFileBytes) {
              if (chunk.length) await f.writeSync(Buffer.concat(chunk, chunkBytes));
              chunk = [];
              chunkBytes = 0;
              await f.rotate();
            }
            chunk.push(line);
            chunkBytes += line.length;
            f.seq++;
            f.prevHash = rec.hash;
            written.push(rec);
          }
          if (chunk.length) await f.writeSync(Buffer.concat(chunk, chunkBytes));
          if (this.audit) await this.audit.append(written).catch(() => undefined);
          for (const p of batch) p.resolve();
        } catch (err) {
          this.metrics.recordingErrorsTotal.inc();
          this.markUnavailable();
          // Roll the chain back to the last acknowledged record and cut anything half-written.
          f.seq = saved.seq;
          f.prevHash = saved.prevHash;
          try {
            if (f.segment !== saved.segment || !f.isOpen) throw err;
            await f.truncate(saved.bytes);
          } catch {
            s.failed = new Error(`recording of session ${s.id} failed: ${(err as Error).message}`);
          }
          for (const p of batch) p.reject(err as Error);
          if (s.failed) for (const p of s.pending.splice(0)) p.reject(s.failed);
        }
        if (this.fsync !== 'always' && s.pending.length && !s.idle) {
          // Interval policy: the next batch waits for its own interval.
          s.timer ??= setTimeout(() => {
            s.timer = undefined;
            void this.flush(s);
          }, this.fsync.intervalMs);
          break;
        }
      }
    } finally {
      s.flushing = false;
    }
  }
}
