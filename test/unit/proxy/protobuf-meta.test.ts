import { describe, expect, it } from '@jest/globals';
import { deleteOptionsFromProtobuf, protobufObjectMeta, protobufSecret, stampProtobuf, withProtobufSecretData } from '../../../src/proxy/protobuf-meta.js';

// A minimal protobuf writer: enough to build the k8s wire envelope by hand.
const varint = (n: number): Buffer => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
};
const bytesField = (num: number, data: Buffer | string): Buffer => {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return Buffer.concat([varint(num * 8 + 2), varint(b.length), b]);
};
const intField = (num: number, v: number): Buffer => Buffer.concat([varint(num * 8), varint(v)]);

function envelope(meta: Buffer, extra: Buffer = Buffer.alloc(0)): Buffer {
  const object = Buffer.concat([bytesField(1, meta), extra]);
  const typeMeta = Buffer.concat([bytesField(1, 'rbac.authorization.k8s.io/v1'), bytesField(2, 'ClusterRoleBinding')]);
  const unknown = Buffer.concat([bytesField(1, typeMeta), bytesField(2, object), bytesField(3, ''), bytesField(4, 'application/vnd.kubernetes.protobuf')]);
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown]);
}

describe('protobufObjectMeta', () => {
  it('reads metadata.name and generateName of a protobuf object', () => {
    const meta = Buffer.concat([bytesField(1, 'pwn'), bytesField(2, 'gen-'), intField(9, 3)]);
    expect(protobufObjectMeta(envelope(meta, bytesField(2, 'subjects...')))).toEqual({ name: 'pwn', generateName: 'gen-' });
  });

  it('a generateName-only object has no name', () => {
    expect(protobufObjectMeta(envelope(bytesField(2, 'job-')))).toEqual({ generateName: 'job-' });
  });

  it('anything that is not the k8s envelope, or is cut short, yields nothing', () => {
    expect(protobufObjectMeta(Buffer.from('{"metadata":{"name":"x"}}'))).toEqual({});
    const whole = envelope(bytesField(1, 'pwn'));
    expect(protobufObjectMeta(whole.subarray(0, whole.length - 40))).toEqual({});
    expect(protobufObjectMeta(Buffer.from([0x6b, 0x38, 0x73, 0x00, 0xff, 0xff, 0xff]))).toEqual({});
  });
});

/** Reads the length-delimited fields of a message (test-side decoder, independent of the module's). */
function readFields(buf: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  let pos = 0;
  const vint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
  };
  while (pos < buf.length) {
    const tag = vint();
    if ((tag & 7) === 0) {
      vint();
      out.push([tag >> 3, Buffer.alloc(0)]);
      continue;
    }
    const len = vint();
    out.push([tag >> 3, buf.subarray(pos, pos + len)]);
    pos += len;
  }
  return out;
}
const metaOf = (body: Buffer): Array<[number, Buffer]> => {
  const raw = readFields(body.subarray(4)).find(([n]) => n === 2)![1];
  return readFields(readFields(raw).find(([n]) => n === 1)![1]);
};
const annotationsOf = (body: Buffer): Record<string, string> =>
  Object.fromEntries(metaOf(body).filter(([n]) => n === 12).map(([, e]) => { const f = readFields(e); return [f[0]![1].toString(), f[1]![1].toString()]; }));

describe('stampProtobuf', () => {
  const entry = (k: string, v: string) => bytesField(12, Buffer.concat([bytesField(1, k), bytesField(2, v)]));
  const spec = bytesField(2, Buffer.concat([bytesField(3, '10.0.0.0'), bytesField(4, 'ClusterIP')]));

  it('adds the annotations inside ObjectMeta and keeps every other byte of the object', () => {
    const body = envelope(Buffer.concat([bytesField(1, 'svc'), entry('team', 'a')]), spec);
    const out = stampProtobuf(body, { annotations: { 'airlock.dev/agent': 'agent-ci' } })!;
    expect(annotationsOf(out)).toEqual({ team: 'a', 'airlock.dev/agent': 'agent-ci' });
    expect(protobufObjectMeta(out)).toEqual({ name: 'svc' });
    expect(out.includes(spec)).toBe(true);
  });

  it("drops the client's own entries for Airlock's keys (no decoder sees them) and pins a resourceVersion only when absent", () => {
    const body = envelope(Buffer.concat([bytesField(1, 'x'), entry('airlock.dev/agent', 'someone-else')]));
    const out = stampProtobuf(body, { annotations: { 'airlock.dev/agent': 'agent-ci' }, resourceVersionIfAbsent: '42' })!;
    expect(annotationsOf(out)).toEqual({ 'airlock.dev/agent': 'agent-ci' });
    expect(protobufObjectMeta(out).resourceVersion).toBe('42');
    const own = envelope(Buffer.concat([bytesField(1, 'x'), bytesField(6, '7')]));
    expect(protobufObjectMeta(stampProtobuf(own, { annotations: {}, resourceVersionIfAbsent: '42' })!).resourceVersion).toBe('7');
  });

  it('refuses anything that is not a well-formed envelope', () => {
    expect(stampProtobuf(Buffer.from('{}'), { annotations: {} })).toBeUndefined();
    const whole = envelope(bytesField(1, 'x'));
    expect(stampProtobuf(whole.subarray(0, whole.length - 3), { annotations: {} })).toBeUndefined();
  });
});

describe('protobuf Secrets and DeleteOptions', () => {
  function secretEnvelope(object: Buffer): Buffer {
    const typeMeta = Buffer.concat([bytesField(1, 'v1'), bytesField(2, 'Secret')]);
    return Buffer.concat([Buffer.from('k8s\0', 'latin1'), bytesField(1, typeMeta), bytesField(2, object)]);
  }
  const dataEntry = (k: string, v: string) => bytesField(2, Buffer.concat([bytesField(1, k), bytesField(2, v)]));

  it('reads a Secret\'s type and data and replaces one data value', () => {
    const body = secretEnvelope(Buffer.concat([bytesField(1, bytesField(1, 'rec')), dataEntry('release', 'old'), dataEntry('other', 'keep'), bytesField(3, 'helm.sh/release.v1')]));
    const s = protobufSecret(body)!;
    expect(s.type).toBe('helm.sh/release.v1');
    expect(s.data.get('release')!.toString()).toBe('old');
    const out = protobufSecret(withProtobufSecretData(body, 'release', Buffer.from('new'))!)!;
    expect(Object.fromEntries([...out.data].map(([k, v]) => [k, v.toString()]))).toEqual({ release: 'new', other: 'keep' });
    expect(protobufSecret(envelope(bytesField(1, 'x')))).toBeUndefined(); // a ClusterRoleBinding is no Secret
  });

  it('converts DeleteOptions exactly, negative grace periods and preconditions included, and refuses unknown fields', () => {
    const neg = Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const opts = Buffer.concat([neg, bytesField(2, Buffer.concat([bytesField(1, 'uid-1'), bytesField(2, '9')])), bytesField(4, 'Foreground'), bytesField(5, 'All'), intField(3, 1)]);
    const body = Buffer.concat([Buffer.from('k8s\0', 'latin1'), bytesField(2, opts)]);
    expect(deleteOptionsFromProtobuf(body)).toEqual({
      kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', gracePeriodSeconds: -1, preconditions: { uid: 'uid-1', resourceVersion: '9' },
      propagationPolicy: 'Foreground', dryRun: ['All'], orphanDependents: true,
    });
    expect(() => deleteOptionsFromProtobuf(Buffer.concat([Buffer.from('k8s\0', 'latin1'), bytesField(2, bytesField(9, 'x'))]))).toThrow(/unknown DeleteOptions field 9/);
  });
});

describe('reading protobuf as Go decodes it (red team)', () => {
  it('takes the last occurrence of a string field and merges repeated messages', () => {
    const twice = envelope(Buffer.concat([bytesField(1, 'innocent-cm'), bytesField(1, 'evil-cm')]));
    expect(protobufObjectMeta(twice).name).toBe('evil-cm');
    // ObjectMeta sent twice: one merged message (the later name wins), and stamping keeps that merge.
    const object = Buffer.concat([bytesField(1, bytesField(1, 'first')), bytesField(1, bytesField(6, '5')), bytesField(1, bytesField(1, 'second'))]);
    const typeMeta = Buffer.concat([bytesField(1, 'v1'), bytesField(2, 'ConfigMap')]);
    const body = Buffer.concat([Buffer.from('k8s\0', 'latin1'), bytesField(1, typeMeta), bytesField(2, object)]);
    expect(protobufObjectMeta(body)).toEqual({ name: 'second', resourceVersion: '5' });
    expect(protobufObjectMeta(stampProtobuf(body, { annotations: { a: 'b' } })!)).toEqual({ name: 'second', resourceVersion: '5' });
  });

  it("reads a Secret's type the way the API server will store it", () => {
    const typeMeta = Buffer.concat([bytesField(1, 'v1'), bytesField(2, 'Secret')]);
    const object = Buffer.concat([bytesField(1, bytesField(1, 'r')), bytesField(3, 'Opaque'), bytesField(3, 'helm.sh/release.v1')]);
    expect(protobufSecret(Buffer.concat([Buffer.from('k8s\0', 'latin1'), bytesField(1, typeMeta), bytesField(2, object)]))!.type).toBe('helm.sh/release.v1');
  });
});
