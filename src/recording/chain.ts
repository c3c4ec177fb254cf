// Verifies a session's hash chain across its segments.
// Rules:
//  - every line is one record; seq starts at 0 and grows by 1; prevHash is the previous record's hash
//    ("0"*64 for the first); one sessionId. hash: for lines that begin with it (format 2, record-line.ts)
//    the sha256 of the line's text without it; for older lines, of the canonical JSON of the record without it.
//  - segments are numbered 0, 1, 2, ... without holes; the chain continues across them.
//  - torn tail: the recorder acknowledges a record only after its whole line, newline included, is
//    fsynced. So a final line of the LAST segment that lacks its newline was never acknowledged: verify
//    drops it with a warning. Anything else that does not parse or chain is tampering (or corruption).
//  - a record naming an asciicast with asciicastSha256 must match the file's sha256.
//  - truncation of whole records at the end cannot be seen from the chain alone; a session without a
//    session-end record is reported (warning) so it can be checked against the audit log.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ZERO_HASH, recordHash, sha256Hex } from './canonical.js';
import { format2Hashes, isFormat2 } from './record-line.js';
import type { SessionFiles } from './paths.js';
import type { RequestRecord } from './types.js';

export interface VerifyIssue {
  file: string;
  /** 1-based line number in the file. */
  line: number;
  seq?: number;
  message: string;
}

export interface VerifyResult {
  sessionId: string;
  ok: boolean;
  records: number;
  /** The first broken record (verification stops there). */
  error?: VerifyIssue;
  warnings: VerifyIssue[];
  /** Whether the session has a session-end record. */
  ended: boolean;
}

/** Splits a file into lines; `torn` is the trailing text without a newline, if any. */
export function splitLines(text: string): { lines: string[]; torn?: string } {
  const parts = text.split('\n');
  const last = parts.pop()!;
  return last === '' ? { lines: parts } : { lines: parts, torn: last };
}

function resolveCast(rec: RequestRecord, baseDir: string, segmentDir: string): string {
  const p = rec.asciicast!;
  if (isAbsolute(p)) return p;
  const a = resolve(baseDir, p);
  return existsSync(a) ? a : join(segmentDir, p.split('/').pop()!);
}

/**
 * Verifies one session. baseDir is the recording directory (asciicast paths are relative to it).
 */
export function verifySession(files: SessionFiles, baseDir: string): VerifyResult {
  const res: VerifyResult = { sessionId: files.sessionId, ok: true, records: 0, warnings: [], ended: false };
  const fail = (issue: VerifyIssue): VerifyResult => {
    res.ok = false;
    res.error = issue;
    return res;
  };
  let expectSeq = 0;
  let prev = ZERO_HASH;
  for (let i = 0; i < files.segments.length; i++) {
    const { segment, path } = files.segments[i]!;
    if (segment !== i) return fail({ file: path, line: 0, seq: expectSeq, message: `segment ${i} of the session is missing (found segment ${segment})` });
    const { lines, torn } = splitLines(readFileSync(path, 'utf8'));
    if (torn !== undefined) {
      const isLast = i === files.segments.length - 1;
      if (!isLast) return fail({ file: path, line: lines.length + 1, seq: expectSeq, message: 'unterminated line inside the chain (only the very last line may be torn)' });
      res.warnings.push({ file: path, line: lines.length + 1, message: `dropped a torn final line (${torn.length} bytes, never acknowledged)` });
    }
    for (let ln = 0; ln < lines.length; ln++) {
      const where = { file: path, line: ln + 1 };
      let rec: RequestRecord;
      try {
        rec = JSON.parse(lines[ln]!) as RequestRecord;
      } catch {
        return fail({ ...where, seq: expectSeq, message: 'line is not valid JSON' });
      }
      if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return fail({ ...where, seq: expectSeq, message: 'line is not a record object' });
      if (rec.seq !== expectSeq) return fail({ ...where, seq: rec.seq, message: `expected seq ${expectSeq}, found ${String(rec.seq)} (record deleted, inserted or reordered)` });
      if (rec.prevHash !== prev) return fail({ ...where, seq: rec.seq, message: 'prevHash does not match the previous record (record deleted, inserted or reordered)' });
      if (rec.sessionId !== files.sessionId) return fail({ ...where, seq: rec.seq, message: `record belongs to session ${JSON.stringify(rec.sessionId)}` });
      const line = lines[ln]!;
      let h: string;
      if (isFormat2(line)) {
        const hashes = format2Hashes(line);
        if (!hashes || hashes.stated !== rec.hash) return fail({ ...where, seq: rec.seq, message: 'malformed or repeated hash member (record edited)' });
        h = hashes.actual;
      } else h = recordHash(rec);
      if (rec.hash !== h) return fail({ ...where, seq: rec.seq, message: 'hash does not match the record content (record edited)' });
      const castSha = rec.asciicastSha256;
      if (rec.asciicast && castSha) {
        const cast = resolveCast(rec, baseDir, files.dateDir);
        if (!existsSync(cast)) return fail({ ...where, seq: rec.seq, message: `asciicast ${rec.asciicast} is missing` });
        if (sha256Hex(readFileSync(cast)) !== castSha) return fail({ ...where, seq: rec.seq, message: `asciicast ${rec.asciicast} does not match its recorded sha256 (edited)` });
      }
      if (rec.type === 'session-end') res.ended = true;
      prev = h;
      expectSeq++;
      res.records++;
    }
  }
  if (!res.ended) res.warnings.push({ file: files.segments.at(-1)?.path ?? '', line: 0, message: 'no session-end record (session still open, recorder killed, or tail truncated)' });
  return res;
}
