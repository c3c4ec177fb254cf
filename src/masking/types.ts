// Contract between the proxy (src/proxy) and response masking (src/masking/index.ts).
import type { Transform } from 'node:stream';
import type { ResolvedMasking, ResourceCoordinates } from '../policy/types.js';
import type { DecodedRelease } from './helm-release.js';
import type { ExecOutputMasker } from './exec-output.js';
import type { ObjectView } from './views.js';

export interface MaskTarget extends ResourceCoordinates {
  /** true for watch streams (newline-delimited JSON watch events). */
  watch: boolean;
  /** Response content type from the API server (JSON of any flavour, or text/plain for logs). */
  contentType: string;
  /**
   * Exact values to scrub from this response in every spelling (plain, escaped, base64, base64 piece), on
   * top of the values each unit protects itself: e.g. protectedValuesOf() of the live object a request
   * touched, so an upstream error Status quoting the real value is scrubbed. Values shorter than
   * MIN_KNOWN_VALUE_LENGTH (6) are ignored.
   */
  knownValues?: readonly string[];
  /**
   * For Tables: what the agent asked for in includeObject. The proxy asks upstream for full objects
   * (includeObject=Object) so the masker knows each row's values; the masker then reduces every
   * row.object to this: 'Metadata' -> PartialObjectMetadata of the masked metadata, 'None' -> no object.
   * Undefined leaves row.object as the API server sent it (masked).
   */
  tableIncludeObject?: 'None' | 'Metadata' | 'Object';
  /** The reader's view (views.ts): applied to every unit before masking; undefined hides a unit. */
  view?: ObjectView;
}

export interface MaskerFactory {
  /**
   * Whether responses for this request may need masking. The proxy then forces JSON from the API server
   * (no protobuf), so masking can read them; false leaves the response untouched and streamed as is.
   */
  needsMasking(target: Omit<MaskTarget, 'contentType'>, rules: ResolvedMasking): boolean;
  /** A streaming transform for the response body, or undefined when nothing needs masking. Never buffers a whole list. */
  create(target: MaskTarget, rules: ResolvedMasking): Transform | undefined;
  /**
   * Masks an already parsed value in place and returns it (e.g. a request body before it is recorded:
   * an agent creating a Secret sends its data). Same rules and markers as create().
   */
  maskValue?(value: unknown, target: Omit<MaskTarget, 'contentType'>, rules: ResolvedMasking): unknown;
  /**
   * Whether any of `secrets` (in any spelling) would stay readable in `value` when it is masked by key
   * names and value shapes alone: the write guard refuses writes that move a hidden value there.
   */
  reveals?(value: unknown, secrets: readonly string[], target: Omit<MaskTarget, 'contentType'>, rules: ResolvedMasking): boolean;
  /**
   * Helm release records (helm-release.ts): the agent's view of one, under these rules (undefined: it is
   * masked whole), and every marker that view can carry with the value it stands for.
   */
  releaseView?(decoded: DecodedRelease, rules: ResolvedMasking): Record<string, unknown> | undefined;
  releaseMarkers?(decoded: DecodedRelease, rules: ResolvedMasking): Map<string, Buffer>;
  /**
   * Output masking for one exec or attach session (exec-output.ts): the detectors, the policy's patterns,
   * and `values` (the target pod's secret values, text or bytes) in every spelling and in fragments. Built
   * once per session; throws TooManyValues when the values are too many to search for.
   */
  execOutput?(rules: ResolvedMasking, values: readonly (string | Buffer)[]): ExecOutputMaskers;
}

export interface ExecOutputMaskers {
  /** A masker for one output stream (stdout, stderr, the error channel). */
  stream(): ExecOutputMasker;
  /** Whether bytes (an argv word) hold one of the values, or a fragment of one. */
  reveals(bytes: Buffer): boolean;
}
