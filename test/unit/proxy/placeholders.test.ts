import { describe, expect, it } from '@jest/globals';
import { maskedPlaceholderPath } from '../../../src/proxy/placeholders.js';

const marker = 'airlock-masked:sha256:0123abcd';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('writing masked placeholders back is detected', () => {
  it('finds them in Secret data (base64), stringData, ConfigMaps and env values, with the field path', () => {
    expect(maskedPlaceholderPath({ kind: 'Secret', data: { user: b64('app'), password: b64(marker) } })).toBe('data.password');
    expect(maskedPlaceholderPath({ kind: 'Secret', stringData: { token: marker } })).toBe('stringData.token');
    expect(maskedPlaceholderPath({ kind: 'ConfigMap', data: { url: `postgres://app:${marker}@db/x` } })).toBe('data.url');
    expect(maskedPlaceholderPath({ kind: 'ConfigMap', binaryData: { f: b64(`x=${marker}`) } })).toBe('binaryData.f');
    expect(
      maskedPlaceholderPath({ kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'c', env: [{ name: 'A', value: 'ok' }, { name: 'B', value: marker }] }] } } } }),
    ).toBe('spec.template.spec.containers[0].env[1].value');
  });
  it('passes real values, including base64 data that merely resembles the prefix', () => {
    expect(maskedPlaceholderPath({ kind: 'Secret', data: { password: b64('hunter2'), other: b64('airlock-masked') } })).toBeUndefined();
    expect(maskedPlaceholderPath({ kind: 'ConfigMap', data: { note: 'airlock masks values' } })).toBeUndefined();
  });
});
