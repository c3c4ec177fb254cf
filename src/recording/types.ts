// Contract between the proxy/webhook and session recording (src/recording).
import type { Metrics } from '../metrics/registry.js';
import type { UserInfo } from '../policy/types.js';

/** The counters the recorder's writers (session files, the audit log, asciicasts) keep. */
export type RecordingMetrics = Pick<Metrics, 'recordingBytesTotal' | 'recordingErrorsTotal'>;

export interface RequestRecord {
  /** Filled by the recorder: sequence number, previous record hash, own hash. */
  seq?: number;
  prevHash?: string;
  hash?: string;
  /**
   * intent: a write as judged, made durable before it is forwarded; its outcome is the `request` (or
   * `exec`) record with the same requestId, or a `recovered` record when the process died in between.
   */
  type: 'request' | 'intent' | 'recovered' | 'session-start' | 'session-end' | 'exec';
  time: string; // RFC 3339 with ms
  sessionId: string;
  requestId: string;
  user: UserInfo;
  /** session-start: the recorder writing the session (see owners.ts), so recovery leaves live ones alone. */
  owner?: string;
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
  /** intent: the resourceVersion of the live object the write was judged against (for reconciliation). */
  baseResourceVersion?: string;
  /** intent: which judgement of the request this is (a write re-judged after a conflict has several). */
  attempt?: number;
  /** recovered: what became of an intent whose outcome was never recorded, as the cluster shows it. */
  recovery?: RecoveredOutcome;
  /** For exec: the argv, one element per word, as the agent asked (the decision says what was judged of it). */
  command?: string[];
  /** For exec/attach: the asciicast file of the stream (stored relative to the recording directory). */
  asciicast?: string;
  /** Filled by the recorder when the asciicast was closed before the record: sha256 of the file. */
  asciicastSha256?: string;
}

export interface RecoveredOutcome {
  /** applied / not-applied when the cluster shows it, unknown otherwise. */
  outcome: 'applied' | 'not-applied' | 'unknown';
  reason: string;
  /** The object's resourceVersion when the intent was reconciled (absent: the object does not exist). */
  resourceVersion?: string;
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
  /**
   * False while records cannot be made durable (a write or sync failed and no probe has succeeded
   * since): reads a policy wants recorded are refused meanwhile. Recovers by itself.
   */
  available(): boolean;
  /** Starts an asciicast v2 stream for an exec/attach request. */
  startAsciicast(sessionId: string, requestId: string, meta: { command?: string; cols?: number; rows?: number }): AsciicastWriter;
  close(): Promise<void>;
}
