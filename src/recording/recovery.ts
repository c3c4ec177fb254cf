// Write-ahead recovery. A write is recorded as an `intent` before it is forwarded and its outcome is
// recorded after; a process killed in between leaves an intent without an outcome. At start-up such
// intents are found in the sessions that never ended, and each gets a `recovered` record saying what
// the cluster shows of it, so that no forwarded write is left without an outcome in its session.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { splitLines } from './chain.js';
import { listSessionFiles, type SessionFiles } from './paths.js';
import { readSession } from './reader.js';
import type { RecoveredOutcome, RequestRecord } from './types.js';

/** Finds out from the cluster what became of a write whose outcome was never recorded. */
export type Reconciler = (intent: RequestRecord) => Promise<RecoveredOutcome>;

export interface OrphanedIntents {
  sessionId: string;
  intents: RequestRecord[];
}

/**
 * Intents without an outcome, in the sessions that have no session-end record (all others are complete)
 * and that this recorder may recover.
 */
export function findOrphanedIntents(dir: string, mayRecover: (files: SessionFiles) => boolean): OrphanedIntents[] {
  const out: OrphanedIntents[] = [];
  for (const files of listSessionFiles(dir)) {
    if (endsWithSessionEnd(files) || !mayRecover(files)) continue;
    let records: RequestRecord[];
    try {
      records = readSession(files);
    } catch {
      continue; // a broken chain is for `kubectl airlock verify` to report, not for recovery to extend
    }
    const open = new Map<string, RequestRecord>();
    for (const r of records) {
      if (r.type === 'intent') open.set(r.requestId, r);
      else if (r.type === 'request' || r.type === 'exec' || r.type === 'recovered') open.delete(r.requestId);
    }
    // Sessions without orphans are listed too: the recorder ends them (a crash left them open).
    out.push({ sessionId: files.sessionId, intents: [...open.values()] });
  }
  return out;
}

/** Whether the session's last complete line is its session-end (read from the tail only). */
function endsWithSessionEnd(files: SessionFiles): boolean {
  const last = files.segments.at(-1);
  if (!last) return true;
  const size = statSync(last.path).size;
  const len = Math.min(size, 64 * 1024);
  const buf = Buffer.alloc(len);
  const fd = openSync(last.path, 'r');
  try {
    readSync(fd, buf, 0, len, size - len);
  } finally {
    closeSync(fd);
  }
  const { lines } = splitLines(buf.toString('utf8'));
  const tail = lines.at(-1);
  if (!tail) return size > len ? false : true; // an empty session has nothing to recover
  try {
    return (JSON.parse(tail) as RequestRecord).type === 'session-end';
  } catch {
    return false;
  }
}

/** The `recovered` record that closes an orphaned intent. */
export function recoveredRecord(intent: RequestRecord, outcome: RecoveredOutcome, now: Date): RequestRecord {
  return {
    type: 'recovered',
    time: now.toISOString(),
    sessionId: intent.sessionId,
    requestId: intent.requestId,
    user: intent.user,
    method: intent.method,
    path: intent.path,
    request: intent.request,
    decision: intent.decision,
    status: 0,
    latencyMs: 0,
    recovery: outcome,
  };
}
