// Layout of a recording directory:
//   <dir>/<YYYY-MM-DD>/<sessionId>.jsonl          first segment of a session's records
//   <dir>/<YYYY-MM-DD>/<sessionId>.<n>.jsonl      later segments after size-based rotation (n = 1, 2, ...)
//   <dir>/<YYYY-MM-DD>/<sessionId>.<requestId>.cast   asciicast v2 of one exec/attach stream
// The date is the session's start date (UTC). Ids are validated: they end up in file names.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const SESSION_TS_RE = /^(\d{4})(\d{2})(\d{2})T\d{6}Z-/;
const SEGMENT_RE = /^([A-Za-z0-9][A-Za-z0-9_-]{0,127})(?:\.(\d+))?\.jsonl$/;
const CAST_RE = /^([A-Za-z0-9][A-Za-z0-9_-]{0,127})\.([A-Za-z0-9][A-Za-z0-9_-]{0,127})\.cast$/;
const DATE_DIR_RE = /^\d{4}-\d{2}-\d{2}$/;

export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

export function assertValidId(id: string, what: string): void {
  if (!isValidId(id)) throw new Error(`invalid ${what} ${JSON.stringify(id)}: use 1-128 characters [A-Za-z0-9_-]`);
}

/** Ids for request ids from elsewhere (UUIDs etc.): anything else is replaced, so it is safe in a file name. */
export function safeId(id: string): string {
  const s = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
  return /^[A-Za-z0-9]/.test(s) ? s : 'x' + s.slice(0, 127);
}

/** A new session id: start time, a slug of the user name, random suffix. */
export function newSessionId(username: string, now: Date): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const slug = username.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'user';
  return `${ts}-${slug}-${randomBytes(4).toString('hex')}`;
}

/** The date directory of a session: from its id when it carries a timestamp, else from `fallback`. */
export function dateDirFor(sessionId: string, fallback: Date): string {
  const m = SESSION_TS_RE.exec(sessionId);
  if (m) return `${m[1]}-${m[2]}-${m[3]}`;
  return fallback.toISOString().slice(0, 10);
}

export function segmentName(sessionId: string, segment: number): string {
  return segment === 0 ? `${sessionId}.jsonl` : `${sessionId}.${segment}.jsonl`;
}

export function castName(sessionId: string, requestId: string): string {
  return `${sessionId}.${safeId(requestId)}.cast`;
}

export interface SessionFiles {
  sessionId: string;
  dateDir: string;
  /** Segment paths in order (index = segment number; a missing segment leaves a hole reported by verify). */
  segments: Array<{ segment: number; path: string }>;
  casts: string[];
}

/** Finds every session in a recording directory. */
export function listSessionFiles(dir: string): SessionFiles[] {
  const sessions = new Map<string, SessionFiles>();
  let dates: string[];
  try {
    dates = readdirSync(dir).filter((d) => DATE_DIR_RE.test(d)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  for (const d of dates) {
    const dd = join(dir, d);
    if (!statSync(dd).isDirectory()) continue;
    for (const f of readdirSync(dd).sort()) {
      const seg = SEGMENT_RE.exec(f);
      const cast = seg ? undefined : CAST_RE.exec(f);
      const id = seg?.[1] ?? cast?.[1];
      if (!id) continue;
      let s = sessions.get(id);
      if (!s) {
        s = { sessionId: id, dateDir: dd, segments: [], casts: [] };
        sessions.set(id, s);
      }
      if (seg) s.segments.push({ segment: seg[2] ? Number(seg[2]) : 0, path: join(dd, f) });
      else s.casts.push(join(dd, f));
    }
  }
  const out = [...sessions.values()].filter((s) => s.segments.length > 0);
  for (const s of out) s.segments.sort((a, b) => a.segment - b.segment);
  return out.sort((a, b) => a.sessionId.localeCompare(b.sessionId));
}

/** Resolves a session argument: a session id, or a path to one of its .jsonl files. */
export function findSession(dir: string, arg: string): SessionFiles | undefined {
  const all = listSessionFiles(dir);
  const base = arg.split('/').pop() ?? arg;
  const m = SEGMENT_RE.exec(base);
  const id = m ? m[1] : arg;
  return all.find((s) => s.sessionId === id);
}

/** The session a .jsonl file belongs to, from the files beside it (for `verify FILE`). */
export function sessionFromFile(path: string): SessionFiles | undefined {
  const slash = path.lastIndexOf('/');
  const dd = slash >= 0 ? path.slice(0, slash) || '/' : '.';
  const m = SEGMENT_RE.exec(path.slice(slash + 1));
  if (!m) return undefined;
  const id = m[1]!;
  const s: SessionFiles = { sessionId: id, dateDir: dd, segments: [], casts: [] };
  for (const f of readdirSync(dd).sort()) {
    const seg = SEGMENT_RE.exec(f);
    if (seg && seg[1] === id) s.segments.push({ segment: seg[2] ? Number(seg[2]) : 0, path: join(dd, f) });
    const cast = CAST_RE.exec(f);
    if (cast && cast[1] === id) s.casts.push(join(dd, f));
  }
  s.segments.sort((a, b) => a.segment - b.segment);
  return s;
}
