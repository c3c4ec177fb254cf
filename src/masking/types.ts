// Contract between the proxy (src/proxy) and response masking (src/masking/index.ts).
import type { Transform } from 'node:stream';
import type { ResolvedMasking, ResourceCoordinates } from '../policy/types.js';

export interface MaskTarget extends ResourceCoordinates {
  /** true for watch streams (newline-delimited JSON watch events). */
  watch: boolean;
  /** Response content type from the API server (JSON of any flavour, or text/plain for logs). */
  contentType: string;
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
}
