// Contract between the proxy/webhook and session recording (src/recording).
import type { UserInfo } from '../policy/types.js';

export interface RequestRecord {
  /** Filled by the recorder: sequence number, previous record hash, own hash. */
  seq?: number;
  prevHash?: string;
  hash?: string;
  type: 'request' | 'session-start' | 'session-end' | 'exec';
  time: string; // RFC 3339 with ms
  sessionId: string;
  requestId: string;
  user: UserInfo;
  sourceIP?: string;
  userAgent?: string;
  method: string;
  path: string;
  request: {
    verb: string;
    apiGroup?: string;
    apiVersion?: string;
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  decision: { action: string; policy?: string; rule?: string; reason?: string; approval?: string };
  status: number;
  latencyMs: number;
  /** Request and response bodies after masking (never raw secrets); truncated past the recorder's limit. */
  requestBody?: unknown;
  responseBody?: unknown;
  /** For exec/attach: the asciicast file of the stream (stored relative to the recording directory). */
  asciicast?: string;
  /** Filled by the recorder when the asciicast was closed before the record: sha256 of the file. */
  asciicastSha256?: string;
}

export interface AsciicastWriter {
  /** Output from the container (stdout/stderr), as the agent saw it after masking. */
  output(data: Buffer | string): void;
  /** Input the agent sent (stdin). */
  input(data: Buffer | string): void;
  resize(cols: number, rows: number): void;
  close(): Promise<void>;
  readonly file: string;
}

export interface Recorder {
  /** The current session id for an identity (new after the idle timeout); used in provenance annotations. */
  sessionFor(user: UserInfo): string;
  /** Appends a record durably (resolves once it is written as the fsync policy says). */
  record(rec: RequestRecord): Promise<void>;
  /** Starts an asciicast v2 stream for an exec/attach request. */
  startAsciicast(sessionId: string, requestId: string, meta: { command?: string; cols?: number; rows?: number }): AsciicastWriter;
  close(): Promise<void>;
}
