// Reads a session's records (for the CLI) and summarises them.
import { readFileSync } from 'node:fs';
import { splitLines } from './chain.js';
import type { SessionFiles } from './paths.js';
import type { RequestRecord } from './types.js';

export interface SessionSummary {
  sessionId: string;
  agent: string;
  start: string;
  end: string;
  durationMs: number;
  requests: number;
  denials: number;
  holds: number;
  execs: number;
  ended: boolean;
  files: string[];
}

/** All complete records of a session in order (a torn final line is skipped; lines that do not parse throw). */
export function readSession(files: SessionFiles): RequestRecord[] {
  const out: RequestRecord[] = [];
  for (const { path } of files.segments) {
    const { lines } = splitLines(readFileSync(path, 'utf8'));
    lines.forEach((l, i) => {
      try {
        out.push(JSON.parse(l) as RequestRecord);
      } catch {
        throw new Error(`${path}:${i + 1}: not a JSON record (run \`kubectl airlock verify\`)`);
      }
    });
  }
  return out;
}

export function summarizeSession(files: SessionFiles, records: RequestRecord[]): SessionSummary {
  const first = records[0];
  const last = records.at(-1);
  const t0 = first ? Date.parse(first.time) : NaN;
  const t1 = last ? Date.parse(last.time) + (last.latencyMs ?? 0) : NaN;
  const reqs = records.filter((r) => r.type === 'request' || r.type === 'exec');
  return {
    sessionId: files.sessionId,
    agent: first?.user?.username ?? '',
    start: first?.time ?? '',
    end: last?.time ?? '',
    durationMs: Number.isFinite(t0) && Number.isFinite(t1) ? Math.max(0, t1 - t0) : 0,
    requests: reqs.length,
    denials: reqs.filter((r) => r.decision?.action === 'deny').length,
    holds: reqs.filter((r) => r.decision?.action === 'hold').length,
    execs: reqs.filter((r) => r.type === 'exec' || r.asciicast).length,
    ended: records.some((r) => r.type === 'session-end'),
    files: files.segments.map((s) => s.path),
  };
}
