// Request bodies: bounded reading (413 past the limit, while streaming), content-type policy (JSON, YAML,
// protobuf creates/updates and DeleteOptions; CBOR and unknown types refused with 415, as kube-apiserver
// without its CBOR feature gate does, so client-go falls back to JSON), safe YAML parsing (no duplicate
// keys, bounded alias expansion, one document), and conversion to the JSON that is judged and forwarded.
// Protobuf creates and updates are forwarded as the client's bytes and judged by a dry run of them
// (subject.ts); protobuf DeleteOptions are converted exactly to JSON (protobuf-meta.ts).
import type { IncomingMessage } from 'node:http';
import yaml from 'js-yaml';
import { deleteOptionsFromProtobuf } from './protobuf-meta.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../masking/depth.js';
import { hasBody, type ProxyContext } from './context.js';
import { RequestError } from './request-info.js';
import { kubeStatus, type KubeStatus } from './status.js';

export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;
/** Nodes a YAML document may expand to once aliases are followed (billion-laughs guard). */
export const MAX_YAML_NODES = 200_000;

export type BodyKind = 'json' | 'yaml' | 'protobuf' | 'json-patch' | 'merge-patch' | 'strategic-merge-patch' | 'apply-patch';

export interface ParsedBody {
  kind: BodyKind;
  /** The parsed value (JSON-compatible). */
  value: unknown;
  /** Content type to send upstream (YAML becomes JSON; apply patches keep their type, sent as JSON text). */
  contentType: string;
}

/** Reads at most maxBytes of the request body; rejects with 413 as soon as more arrives. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      if (err) {
        req.resume(); // discard the rest without keeping it
        reject(err);
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        chunks.length = 0;
        finish(tooLarge(maxBytes));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => finish());
    req.on('error', (e) => finish(new RequestError(400, 'BadRequest', `request aborted: ${e.message}`)));
    req.on('aborted', () => finish(new RequestError(400, 'BadRequest', 'request aborted')));
  });
}

function tooLarge(max: number): RequestError {
  return new RequestError(413, 'RequestEntityTooLarge', `request body exceeds the limit of ${max} bytes`);
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Classifies the body's content type for a method; throws 415 for anything the proxy cannot judge. */
export function bodyKind(method: string, contentType: string | undefined): BodyKind {
  const mt = mediaType(contentType);
  const unsupported = () =>
    new RequestError(
      415,
      'UnsupportedMediaType',
      `the agent proxy does not accept ${mt ? `content type "${mt}"` : 'a body without a content type'} for ${method}; use application/json or application/yaml`,
    );
  if (method === 'PATCH') {
    switch (mt) {
      case 'application/json-patch+json': return 'json-patch';
      case 'application/merge-patch+json': return 'merge-patch';
      case 'application/strategic-merge-patch+json': return 'strategic-merge-patch';
      case 'application/apply-patch+yaml': return 'apply-patch';
      default: throw unsupported();
    }
  }
  if (mt === 'application/json') return 'json';
  // client-go's typed clients send protobuf: creates and updates (kubectl create, run, auth can-i, Helm's
  // records) are forwarded as sent and judged by a dry run (subject.ts); DeleteOptions (typed deletes, Helm's
  // uninstall) are converted exactly to JSON (readRequestBody).
  if (mt === 'application/vnd.kubernetes.protobuf' && (method === 'POST' || method === 'PUT' || method === 'DELETE')) return 'protobuf';
  if (mt === 'application/yaml' || mt === 'application/x-yaml' || mt === 'text/yaml') return 'yaml';
  throw unsupported();
}

/** Counts the nodes a parsed YAML value expands to, following shared (aliased) objects, up to a limit. */
export function expandedSize(value: unknown, limit: number): number {
  const memo = new Map<object, number>();
  const visiting = new Set<object>();
  const size = (v: unknown): number => {
    if (v === null || typeof v !== 'object') return 1;
    const known = memo.get(v);
    if (known !== undefined) return known;
    if (visiting.has(v)) throw new RequestError(400, 'BadRequest', 'YAML body contains a recursive alias');
    visiting.add(v);
    let n = 1;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      n += size(child);
      if (n > limit) break;
    }
    visiting.delete(v);
    memo.set(v, n);
    return n;
  };
  return size(value);
}

/** Parses one YAML document strictly (YAML 1.2 core schema, duplicate keys refused, bounded aliases). */
export function parseYaml(text: string): unknown {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text, undefined, { schema: yaml.CORE_SCHEMA, json: false });
  } catch (err) {
    throw new RequestError(400, 'BadRequest', `invalid YAML body: ${(err as Error).message.split('\n')[0]}`);
  }
  const nonEmpty = docs.filter((d) => d !== null && d !== undefined);
  if (nonEmpty.length !== 1) throw new RequestError(400, 'BadRequest', `YAML body must hold exactly one document (found ${nonEmpty.length})`);
  const value = nonEmpty[0];
  // Aliases share nodes: the depth walk is bounded by the node budget; the expanded size decides beyond it.
  refuseDeepNesting(value, MAX_YAML_NODES);
  if (expandedSize(value, MAX_YAML_NODES) > MAX_YAML_NODES) {
    throw new RequestError(400, 'BadRequest', `YAML body expands to more than ${MAX_YAML_NODES} nodes (alias expansion limit)`);
  }
  return value;
}

/** Strict JSON with duplicate-key detection (a duplicate key could be read differently by two parsers). */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RequestError(400, 'BadRequest', `invalid JSON body: ${(err as Error).message}`);
  }
  refuseDeepNesting(value);
  const dup = findDuplicateKey(text);
  if (dup !== undefined) throw new RequestError(400, 'BadRequest', `JSON body contains the duplicate key ${JSON.stringify(dup)}`);
  return value;
}

/** Bodies nested deeper than any Kubernetes object are refused before anything walks them. */
function refuseDeepNesting(value: unknown, budget = Infinity): void {
  if (nestsDeeperThan(value, MAX_JSON_DEPTH, budget)) throw new RequestError(400, 'BadRequest', `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
}

/**
 * Scans valid JSON text for an object with a repeated key (JSON.parse keeps the last one silently, other
 * parsers the first). Keys are compared after unescaping. Linear time.
 */
export function findDuplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) { escaped = true; j++; continue; }
        if (d === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const raw = text.slice(i, j + 1);
        const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] !== null && stack.length > 0;
    }
  }
  return undefined;
}

/** Parses a body of a known kind into a JSON value and the content type to forward. */
export function parseBody(kind: BodyKind, raw: Buffer, originalContentType: string): ParsedBody {
  const text = kind === 'protobuf' ? '' : raw.toString('utf8');
  switch (kind) {
    case 'yaml':
      return { kind, value: parseYaml(text), contentType: 'application/json' };
    case 'apply-patch':
      // Apply configurations are YAML (JSON is YAML); forwarded as JSON text under the same type.
      return { kind, value: parseYaml(text), contentType: 'application/apply-patch+yaml' };
    case 'json':
      return { kind, value: parseJson(text), contentType: 'application/json' };
    case 'protobuf':
      return { kind, value: raw, contentType: 'application/vnd.kubernetes.protobuf' };
    default:
      return { kind, value: parseJson(text), contentType: mediaType(originalContentType) };
  }
}

function protobufDeleteOptions(raw: Buffer): ParsedBody {
  try {
    return { kind: 'json', value: deleteOptionsFromProtobuf(raw), contentType: 'application/json' };
  } catch (err) {
    throw new RequestError(400, 'BadRequest', `the protobuf DeleteOptions body cannot be read: ${(err as Error).message}`);
  }
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The body stage: the request body read (bounded) and parsed, or a Status refusing it. Only writes carry
 * a body; DELETE takes DeleteOptions as JSON; an upgrade request takes none.
 */
export async function readRequestBody(ctx: ProxyContext, req: IncomingMessage, method: string, upgrade: boolean): Promise<ParsedBody | KubeStatus | undefined> {
  if (!hasBody(req)) {
    req.resume();
    return undefined;
  }
  if (upgrade || !BODY_METHODS.has(method)) {
    req.resume();
    return kubeStatus(400, upgrade ? 'airlock: an upgrade request may not carry a body' : `airlock: a ${method} request may not carry a body`);
  }
  try {
    const kind = bodyKind(method, req.headers['content-type']);
    if (method === 'DELETE' && kind !== 'json' && kind !== 'protobuf') throw new RequestError(415, 'UnsupportedMediaType', 'DELETE bodies must be DeleteOptions (application/json or protobuf)');
    const raw = await readBody(req, ctx.maxBodyBytes);
    if (method === 'DELETE' && kind === 'protobuf') return protobufDeleteOptions(raw);
    return parseBody(kind, raw, req.headers['content-type'] ?? '');
  } catch (err) {
    req.resume();
    if (err instanceof RequestError) return kubeStatus(err.code, err.message, err.reason);
    throw err;
  }
}
