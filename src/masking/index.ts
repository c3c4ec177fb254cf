// Response masking for agents: the MaskerFactory the proxy uses (contract: ./types.ts).
import { Transform, type TransformCallback } from 'node:stream';
import { maskedValuesTotal } from '../metrics/registry.js';
import { TextMasker, type MaskCounts } from './detectors.js';
import { JsonMaskStream, type JsonUnitMasker, type UnitRole } from './json-stream.js';
import { LogMaskStream } from './logs.js';
import { Marker, maskingKeyFromEnv } from './marker.js';
import { kindForResource, maskObject, maskRow, type ObjectMaskContext } from './object-mask.js';
import type { MaskTarget, MaskerFactory } from './types.js';

export type { MaskTarget, MaskerFactory } from './types.js';
export { Marker, MARKER_PREFIX, isMarker, maskingKeyFromEnv } from './marker.js';
export { detectors, TextMasker, type Detector, type MaskCounts, type MaskKind } from './detectors.js';
export { JsonMaskStream, JsonMaskingError, DEFAULT_MAX_UNIT_BYTES, type JsonUnitMasker, type UnitRole } from './json-stream.js';
export { LogMaskStream, LogLineMasker, DEFAULT_MAX_LINE_BYTES } from './logs.js';
export { maskObject, maskRow, kindForResource, envNameIsSecret, type ObjectMaskContext } from './object-mask.js';
export { parseJson } from './json-parse.js';

/** Subresources that are not object responses (streams): masking does not apply to them here. */
const STREAM_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'proxy']);

export interface MaskerFactoryOptions {
  /** HMAC key for markers (>= 16 bytes). Default: AIRLOCK_MASKING_KEY, else random per process. */
  key?: Buffer;
  /** Largest single unit (one object, list item or watch event) the JSON masker holds. */
  maxUnitBytes?: number;
  /** Longest log line held before it is masked in pieces. */
  maxLineBytes?: number;
  /** Exact values to mask as well (e.g. the values of the Secrets a pod references). */
  extraValues?: (target: MaskTarget) => readonly string[];
}

export function recordCounts(counts: MaskCounts): void {
  for (const [kind, n] of Object.entries(counts)) if (n) maskedValuesTotal.inc({ kind }, n);
}

/** Unit masker for the JSON stream: knows the request's resource for objects that carry no kind. */
export function unitMasker(ctx: ObjectMaskContext, resource: string | undefined): JsonUnitMasker {
  const defaultKind = kindForResource(resource);
  return {
    mask(value: unknown, role: UnitRole, envelopeKind: string | undefined): unknown {
      if (role === 'row') return maskRow(value, ctx, defaultKind);
      if (role === 'item') {
        const fromList = envelopeKind && envelopeKind !== 'List' && envelopeKind.endsWith('List') && !envelopeKind.startsWith('PartialObjectMetadata')
          ? envelopeKind.slice(0, -4)
          : undefined;
        return maskObject(value, ctx, fromList ?? defaultKind);
      }
      return maskObject(value, ctx, defaultKind);
    },
    flush(): void {
      recordCounts(ctx.counts);
      for (const k of Object.keys(ctx.counts)) delete ctx.counts[k as keyof MaskCounts];
    },
  };
}

/** Refuses any body it cannot read (protobuf, YAML, CBOR): fail closed instead of passing secrets through. */
class UnmaskableStream extends Transform {
  private readonly contentType: string;
  constructor(contentType: string) {
    super();
    this.contentType = contentType;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (chunk.length === 0 || /^\s*$/.test(chunk.toString('latin1'))) return cb();
    cb(new Error(`response of content type "${this.contentType}" cannot be masked; refusing to pass it to the agent`));
  }
}

export function createMaskerFactory(opts: MaskerFactoryOptions = {}): MaskerFactory {
  const marker = new Marker(opts.key ?? maskingKeyFromEnv());
  const needsMasking: MaskerFactory['needsMasking'] = (target, rules) => {
    // Rules present means the policy asks for masking: env values and secret-shaped strings are masked
    // in every object response, whatever the resource (CRDs and v1 Lists can embed Secrets too).
    if (!target.resource) return false; // non-resource paths (/version, /openapi) carry no objects
    if (target.subresource === 'log') return rules.logs;
    if (target.subresource && STREAM_SUBRESOURCES.has(target.subresource)) return false;
    return true;
  };
  const create: MaskerFactory['create'] = (target, rules) => {
    if (!needsMasking(target, rules)) return undefined;
    const text = new TextMasker(marker, rules.patterns, opts.extraValues?.(target) ?? []);
    const ct = target.contentType.toLowerCase();
    if (target.subresource === 'log' || ct.startsWith('text/plain')) {
      return new LogMaskStream(text, { maxLineBytes: opts.maxLineBytes, onCounts: recordCounts });
    }
    if (ct.includes('json')) {
      const ctx: ObjectMaskContext = { text, rules, counts: {} };
      return new JsonMaskStream(unitMasker(ctx, target.resource), { maxUnitBytes: opts.maxUnitBytes });
    }
    return new UnmaskableStream(target.contentType);
  };
  const maskValue: NonNullable<MaskerFactory['maskValue']> = (value, target, rules) => {
    const ctx: ObjectMaskContext = { text: new TextMasker(marker, rules.patterns, opts.extraValues?.({ ...target, contentType: 'application/json' }) ?? []), rules, counts: {} };
    const out = maskObject(value, ctx, kindForResource(target.resource));
    recordCounts(ctx.counts);
    return out;
  };
  return { needsMasking, create, maskValue };
}

/** The process-wide factory (key from AIRLOCK_MASKING_KEY or random per process). */
export const maskerFactory: MaskerFactory = createMaskerFactory();
