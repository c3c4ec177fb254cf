// Session recording: hash-chained JSON Lines per session, asciicast v2 for exec/attach, audit events.
export type { AsciicastWriter, Recorder, RequestRecord } from './types.js';
export { FileRecorder, limitBody, type FileRecorderOptions, type FsyncPolicy } from './file-recorder.js';
export { AsciicastFileWriter, parseAsciicast, playAsciicast, type AsciicastEvent, type AsciicastHeader } from './asciicast.js';
export { toAuditEvent, AuditLogWriter, isAuditable, microTime, type AuditEvent } from './audit.js';
export { ZERO_HASH, canonicalJson, recordHash, sha256Hex } from './canonical.js';
export { JsonText, recordLine, jsonWithTexts } from './record-line.js';
export { verifySession, splitLines, type VerifyIssue, type VerifyResult } from './chain.js';
export { enforceRetention, type RetentionPolicy, type RetentionResult } from './retention.js';
export { listSessionFiles, findSession, sessionFromFile, newSessionId, isValidId, type SessionFiles } from './paths.js';
export { readSession, summarizeSession, type SessionSummary } from './reader.js';
export { checkRecordingAccess, RECORDINGS_GROUP, RECORDINGS_RESOURCE, type AccessResult } from './access.js';
export { sanitizeTerminal, printable } from './terminal.js';
