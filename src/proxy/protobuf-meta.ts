// The name of an object sent as Kubernetes protobuf, read without decoding the object: the proxied token of
// the dry run that converts the body must name the object admission will see, before the API server has
// decoded it. The wire format: the magic "k8s\0", then a runtime.Unknown whose field 2 (raw) holds the
// object; every built-in object has its ObjectMeta as field 1, whose field 1 is name and field 2 generateName.
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

interface Field {
  number: number;
  /** Bytes of a length-delimited field; undefined for other wire types. */
  bytes?: Buffer;
}

function varint(buf: Buffer, pos: number): [number, number] | undefined {
  let value = 0;
  for (let shift = 0, i = pos; i < buf.length && shift < 35; i++, shift += 7) {
    const b = buf[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, i + 1];
  }
  return undefined;
}

/** The top-level fields of a protobuf message (stops quietly at anything malformed). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const key = varint(buf, pos);
    if (!key) break;
    const [tag, next] = key;
    const wire = tag & 7;
    pos = next;
    if (wire === 0) {
      const v = varint(buf, pos);
      if (!v) break;
      pos = v[1];
      out.push({ number: Math.floor(tag / 8) });
    } else if (wire === 2) {
      const len = varint(buf, pos);
      if (!len || len[1] + len[0] > buf.length) break;
      out.push({ number: Math.floor(tag / 8), bytes: buf.subarray(len[1], len[1] + len[0]) });
      pos = len[1] + len[0];
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      out.push({ number: Math.floor(tag / 8) });
    } else break;
  }
  return out;
}

const field = (fs: Field[], n: number): Buffer | undefined => fs.find((f) => f.number === n)?.bytes;

/** metadata.name and metadata.generateName of a protobuf-encoded object, as far as they can be read. */
export function protobufObjectMeta(body: Buffer): { name?: string; generateName?: string } {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) return {};
  const raw = field(fields(body.subarray(MAGIC.length)), 2);
  const meta = raw && field(fields(raw), 1);
  if (!meta) return {};
  const mf = fields(meta);
  const name = field(mf, 1)?.toString('utf8');
  const generateName = field(mf, 2)?.toString('utf8');
  return { ...(name ? { name } : {}), ...(generateName ? { generateName } : {}) };
}
