// Retention of recordings: whole sessions (all segments and asciicasts) are deleted, oldest first, when
// older than maxAgeMs or while the directory holds more than maxTotalBytes. Open sessions are kept.
import { readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { listSessionFiles } from './paths.js';

export interface RetentionPolicy {
  maxAgeMs?: number;
  maxTotalBytes?: number;
}

export interface RetentionResult {
  deletedSessions: string[];
  deletedBytes: number;
  remainingBytes: number;
}

export function enforceRetention(dir: string, policy: RetentionPolicy, opts: { now?: number; keep?: ReadonlySet<string> } = {}): RetentionResult {
  const now = opts.now ?? Date.now();
  const keep = opts.keep ?? new Set<string>();
  const sessions = listSessionFiles(dir).map((s) => {
    const files = [...s.segments.map((x) => x.path), ...s.casts];
    let bytes = 0;
    let newest = 0;
    for (const f of files) {
      try {
        const st = statSync(f);
        bytes += st.size;
        newest = Math.max(newest, st.mtimeMs);
      } catch {
        /* vanished meanwhile */
      }
    }
    return { id: s.sessionId, dateDir: s.dateDir, files, bytes, newest };
  });
  sessions.sort((a, b) => a.newest - b.newest);
  let total = sessions.reduce((n, s) => n + s.bytes, 0);
  const res: RetentionResult = { deletedSessions: [], deletedBytes: 0, remainingBytes: total };
  const dirs = new Set<string>();
  for (const s of sessions) {
    if (keep.has(s.id)) continue;
    const tooOld = policy.maxAgeMs !== undefined && now - s.newest > policy.maxAgeMs;
    const tooBig = policy.maxTotalBytes !== undefined && total > policy.maxTotalBytes;
    if (!tooOld && !tooBig) continue;
    for (const f of s.files) {
      try {
        unlinkSync(f);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    total -= s.bytes;
    res.deletedBytes += s.bytes;
    res.deletedSessions.push(s.id);
    dirs.add(s.dateDir);
  }
  for (const d of dirs) {
    try {
      if (readdirSync(d).length === 0) rmdirSync(d);
    } catch {
      /* not empty or gone */
    }
  }
  res.remainingBytes = total;
  return res;
}
