import { describe, expect, it } from '@jest/globals';
import { protobufObjectMeta } from '../../../src/proxy/protobuf-meta.js';

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
