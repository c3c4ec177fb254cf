// Kubernetes protobuf objects read and stamped without decoding the object. The proxy forwards the agent's
// own bytes (so the API server stores what the client sent, nothing a dry run filled in), adding only
// Airlock's annotations (and a resourceVersion precondition) inside ObjectMeta.
// The wire format: the magic "k8s\0", then a runtime.Unknown whose field 2 (raw) holds the object; every
// built-in object has its ObjectMeta as field 1. In ObjectMeta: 1 name, 2 generateName, 6 resourceVersion,
// 11 labels and 12 annotations (map<string,string>: repeated entries {1 key, 2 value}; the last entry of a
// key wins).
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const UNKNOWN_RAW = 2;
const OBJECT_META = 1;
const META_NAME = 1;
const META_GENERATE_NAME = 2;
const META_RESOURCE_VERSION = 6;
const META_LABELS = 11;
const META_ANNOTATIONS = 12;
const LENGTH_DELIMITED = 2;

interface Field {
  number: number;
  /** Where the field starts (its tag) and ends in the message. */
  start: number;
  end: number;
  /** Bytes of a length-delimited field; undefined for other wire types. */
  bytes?: Buffer;
}

function readVarint(buf: Buffer, pos: number): [number, number] | undefined {
  let value = 0;
  // Up to 10 bytes (int64); the value is exact below 2^53, which covers every tag and length.
  for (let shift = 0, i = pos; i < buf.length && shift < 70; i++, shift += 7) {
    const b = buf[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, i + 1];
  }
  return undefined;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function lengthDelimited(number: number, payload: Buffer): Buffer {
  return Buffer.concat([varint(number * 8 + LENGTH_DELIMITED), varint(payload.length), payload]);
}

/** The top-level fields of a protobuf message; undefined when it is malformed anywhere. */
function fields(buf: Buffer): Field[] | undefined {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const key = readVarint(buf, pos);
    if (!key) return undefined;
    const [tag, next] = key;
    const wire = tag & 7;
    const number = Math.floor(tag / 8);
    pos = next;
    if (wire === 0) {
      const v = readVarint(buf, pos);
      if (!v) return undefined;
      pos = v[1];
      out.push({ number, start, end: pos });
    } else if (wire === LENGTH_DELIMITED) {
      const len = readVarint(buf, pos);
      if (!len || len[1] + len[0] > buf.length) return undefined;
      pos = len[1] + len[0];
      out.push({ number, start, end: pos, bytes: buf.subarray(len[1], pos) });
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > buf.length) return undefined;
      out.push({ number, start, end: pos });
    } else return undefined;
  }
  return out;
}

/**
 * A length-delimited field as Go's decoder reads it: for a string or bytes field the last occurrence wins;
 * for an embedded message every occurrence is merged, which is what their concatenation decodes to.
 */
const field = (fs: Field[] | undefined, n: number): Buffer | undefined => fs?.findLast((f) => f.number === n)?.bytes;
function message(fs: Field[], n: number): Buffer | undefined {
  const parts = fs.filter((f) => f.number === n && f.bytes).map((f) => f.bytes!);
  return parts.length ? Buffer.concat(parts) : undefined;
}

/** A map entry's key and value (fields 1 and 2 of the entry message), or undefined when it is malformed. */
function mapEntry(bytes: Buffer | undefined): { key: string; value: Buffer } | undefined {
  const entry = fields(bytes ?? Buffer.alloc(0));
  return entry && { key: field(entry, 1)?.toString('utf8') ?? '', value: field(entry, 2) ?? Buffer.alloc(0) };
}

/** A map entry, as field `number` of its message. */
function mapEntryField(number: number, key: string, value: Buffer | string): Buffer {
  return lengthDelimited(number, Buffer.concat([lengthDelimited(1, Buffer.from(key, 'utf8')), lengthDelimited(2, Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'))]));
}

/** The message with field `number` replaced by `payload` (every occurrence dropped, one written first). */
function withField(message: Buffer, fs: Field[], number: number, payload: Buffer): Buffer {
  const kept = fs.filter((f) => f.number !== number).map((f) => message.subarray(f.start, f.end));
  return Buffer.concat([lengthDelimited(number, payload), ...kept]);
}

function envelopeOf(body: Buffer): { unknown: Buffer; unknownFields: Field[]; raw: Buffer; rawFields: Field[]; meta: Buffer } | undefined {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const unknown = body.subarray(MAGIC.length);
  const unknownFields = fields(unknown);
  const raw = field(unknownFields, UNKNOWN_RAW);
  const rawFields = raw && fields(raw);
  if (!unknownFields || !raw || !rawFields) return undefined;
  return { unknown, unknownFields, raw, rawFields, meta: message(rawFields, OBJECT_META) ?? Buffer.alloc(0) };
}

/** metadata.name, generateName and resourceVersion of a protobuf-encoded object, as far as they can be read. */
export function protobufObjectMeta(body: Buffer): { name?: string; generateName?: string; resourceVersion?: string } {
  const env = envelopeOf(body);
  const mf = env && fields(env.meta);
  if (!mf) return {};
  const name = field(mf, META_NAME)?.toString('utf8');
  const generateName = field(mf, META_GENERATE_NAME)?.toString('utf8');
  const resourceVersion = field(mf, META_RESOURCE_VERSION)?.toString('utf8');
  return { ...(name ? { name } : {}), ...(generateName ? { generateName } : {}), ...(resourceVersion ? { resourceVersion } : {}) };
}

export interface ProtobufStamp {
  /** Annotations set on the object (replacing any the client sent under the same keys). */
  annotations: Record<string, string>;
  /** Labels set on the object, the same way (a policy's metadata-only mutation). */
  labels?: Record<string, string>;
  /** The client's labels are dropped first (a mutation that sets the whole map). */
  replaceLabels?: boolean;
  /** A resourceVersion precondition, written only when the client sent none. */
  resourceVersionIfAbsent?: string;
}

/**
 * The agent's protobuf object with Airlock's annotations (and precondition) written into its ObjectMeta;
 * every other byte of the object is the client's. Undefined when the body is not a well-formed envelope.
 */
export function stampProtobuf(body: Buffer, stamp: ProtobufStamp): Buffer | undefined {
  const env = envelopeOf(body);
  const metaFields = env && fields(env.meta);
  if (!env || !metaFields) return undefined;
  const maps = new Map<number, Record<string, string>>([[META_ANNOTATIONS, stamp.annotations], [META_LABELS, stamp.labels ?? {}]]);
  const parts: Buffer[] = [];
  for (const f of metaFields) {
    // Entries of the keys set here are dropped, so no decoder can see the client's value for them.
    const set = maps.get(f.number);
    if (set) {
      const entry = mapEntry(f.bytes);
      if (!entry) return undefined;
      if ((f.number === META_LABELS && stamp.replaceLabels) || Object.hasOwn(set, entry.key)) continue;
    }
    parts.push(env.meta.subarray(f.start, f.end));
  }
  for (const [number, set] of maps) {
    for (const [key, value] of Object.entries(set)) parts.push(mapEntryField(number, key, value));
  }
  const rv = field(metaFields, META_RESOURCE_VERSION);
  if (stamp.resourceVersionIfAbsent && (!rv || rv.length === 0)) {
    const others = parts.filter((p) => !isField(p, META_RESOURCE_VERSION));
    parts.length = 0;
    parts.push(...others, lengthDelimited(META_RESOURCE_VERSION, Buffer.from(stamp.resourceVersionIfAbsent, 'utf8')));
  }
  const raw = withField(env.raw, env.rawFields, OBJECT_META, Buffer.concat(parts));
  return Buffer.concat([MAGIC, withField(env.unknown, env.unknownFields, UNKNOWN_RAW, raw)]);
}

/** Whether an encoded field (tag first) has this field number. */
function isField(encoded: Buffer, number: number): boolean {
  const key = readVarint(encoded, 0);
  return !!key && Math.floor(key[0] / 8) === number;
}

/**
 * A protobuf DeleteOptions (what client-go's typed clients send with a DELETE: Helm's uninstall) as the
 * JSON DeleteOptions it is. The message is flat and every field is known, so the conversion is exact:
 * 1 gracePeriodSeconds, 2 preconditions {1 uid, 2 resourceVersion}, 3 orphanDependents,
 * 4 propagationPolicy, 5 dryRun (repeated), 6 ignoreStoreReadErrorWithClusterBreakingPotential.
 * Throws on anything else, so nothing the API server would read is dropped.
 */
export function deleteOptionsFromProtobuf(body: Buffer): Record<string, unknown> {
  const env = envelopeOf(body);
  if (!env) throw new Error('not a Kubernetes protobuf envelope');
  const out: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' };
  const dryRun: string[] = [];
  for (const f of env.rawFields) {
    const text = f.bytes?.toString('utf8');
    switch (f.number) {
      case 1: out.gracePeriodSeconds = signedVarintAt(env.raw, f); break;
      case 3: out.orphanDependents = signedVarintAt(env.raw, f) !== 0; break;
      case 6: out.ignoreStoreReadErrorWithClusterBreakingPotential = signedVarintAt(env.raw, f) !== 0; break;
      case 4: if (text === undefined) throw new Error('propagationPolicy is not a string'); out.propagationPolicy = text; break;
      case 5: if (text === undefined) throw new Error('dryRun is not a string'); dryRun.push(text); break;
      case 2: {
        const pre = f.bytes && fields(f.bytes);
        if (!pre) throw new Error('preconditions are malformed');
        const p: Record<string, string> = {};
        for (const g of pre) {
          if (!g.bytes || (g.number !== 1 && g.number !== 2)) throw new Error(`unknown preconditions field ${g.number}`);
          p[g.number === 1 ? 'uid' : 'resourceVersion'] = g.bytes.toString('utf8');
        }
        out.preconditions = { ...(out.preconditions as Record<string, string> | undefined), ...p }; // a message: merged
        break;
      }
      default: throw new Error(`unknown DeleteOptions field ${f.number}`);
    }
  }
  if (dryRun.length) out.dryRun = dryRun;
  return out;
}

/** The varint value of a varint field (int64 as two's complement: negative grace periods stay negative). */
function signedVarintAt(message: Buffer, f: Field): number {
  const key = readVarint(message, f.start);
  if (!key || (key[0] & 7) !== 0) throw new Error(`field ${f.number} is not a varint`);
  let value = 0n;
  let shift = 0n;
  for (let i = key[1]; i < f.end; i++, shift += 7n) value |= BigInt(message[i]! & 0x7f) << shift;
  return Number(BigInt.asIntN(64, value));
}

// A v1.Secret in protobuf: 1 metadata, 2 data (map<string, bytes>: entries {1 key, 2 value}), 3 type.
const SECRET_DATA = 2;
const SECRET_TYPE = 3;
const TYPE_META = 1;
const TYPE_META_KIND = 2;

/**
 * The type and data of a protobuf v1.Secret (data values as raw bytes), or undefined for anything else.
 * With kind ConfigMap: a v1.ConfigMap's data (also field 2, map<string,string>), no type.
 */
export function protobufSecret(body: Buffer, kind: 'Secret' | 'ConfigMap' = 'Secret'): { type?: string; data: Map<string, Buffer> } | undefined {
  const env = envelopeOf(body);
  if (!env) return undefined;
  const typeMeta = fields(message(env.unknownFields, TYPE_META) ?? Buffer.alloc(0));
  if (field(typeMeta, TYPE_META_KIND)?.toString('utf8') !== kind) return undefined;
  const data = new Map<string, Buffer>();
  for (const f of env.rawFields) {
    if (f.number !== SECRET_DATA || !f.bytes) continue;
    const entry = mapEntry(f.bytes);
    if (!entry) return undefined;
    data.set(entry.key, entry.value);
  }
  const type = kind === 'Secret' ? field(env.rawFields, SECRET_TYPE)?.toString('utf8') : undefined;
  return { ...(type !== undefined ? { type } : {}), data };
}

/** The protobuf Secret with data[key] set to value (every other byte as the client sent it). */
export function withProtobufSecretData(body: Buffer, key: string, value: Buffer): Buffer | undefined {
  const env = envelopeOf(body);
  if (!env || !protobufSecret(body)) return undefined;
  const parts: Buffer[] = [];
  for (const f of env.rawFields) {
    if (f.number === SECRET_DATA && f.bytes && mapEntry(f.bytes)?.key === key) continue;
    parts.push(env.raw.subarray(f.start, f.end));
  }
  parts.push(mapEntryField(SECRET_DATA, key, value));
  return Buffer.concat([MAGIC, withField(env.unknown, env.unknownFields, UNKNOWN_RAW, Buffer.concat(parts))]);
}
