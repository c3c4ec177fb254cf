import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../../src/main/config.js';

const base = ['--proxy-cert', 'c.pem', '--proxy-key', 'k.pem'];

describe('process configuration', () => {
  it('has production defaults', () => {
    const c = parseConfig(base);
    expect(c.namespace).toBe('airlock-system');
    expect(c.webhook.failurePolicy).toBe('Fail');
    expect(c.webhook.timeoutSeconds).toBe(10);
    expect(c.proxy.maxBodyBytes).toBe(3 * 1024 * 1024);
    expect(c.leaderElect).toBe(true);
    expect(c.maskingKey).toBeUndefined(); // the installation's key Secret is read at start
  });
  it('takes AIRLOCK_MASKING_KEY over the installation key, and refuses a short one', () => {
    const saved = process.env.AIRLOCK_MASKING_KEY;
    try {
      process.env.AIRLOCK_MASKING_KEY = 'ab'.repeat(16);
      expect(parseConfig(base).maskingKey).toEqual(Buffer.alloc(16, 0xab));
      process.env.AIRLOCK_MASKING_KEY = 'abcd';
      expect(() => parseConfig(base)).toThrow('AIRLOCK_MASKING_KEY must hold at least 16 bytes');
    } finally {
      if (saved === undefined) delete process.env.AIRLOCK_MASKING_KEY;
      else process.env.AIRLOCK_MASKING_KEY = saved;
    }
  });
  it('applies flags over a config file, and names bad flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const f = join(dir, 'c.yaml');
    writeFileSync(f, 'webhook:\n  timeoutSeconds: 5\n  failurePolicy: Ignore\nproxy:\n  oidc:\n  - issuerURL: https://issuer.example\n    audience: airlock\n');
    const c = parseConfig([...base, '--config', f, '--webhook-timeout-seconds', '7']);
    expect(c.webhook.timeoutSeconds).toBe(7);
    expect(c.webhook.failurePolicy).toBe('Ignore');
    expect(c.proxy.oidc).toEqual([{ issuerURL: 'https://issuer.example', audience: 'airlock' }]);
    expect(() => parseConfig([...base, '--webhook-timeout-seconds', '60'])).toThrow('--webhook-timeout-seconds: must be 1-30');
    expect(() => parseConfig([...base, '--failure-policy', 'Maybe'])).toThrow(ConfigError);
    expect(() => parseConfig([...base, '--proxy-port', 'x'])).toThrow('--proxy-port: must be a port number');
    expect(() => parseConfig(['--proxy-port', '1'])).toThrow('--proxy-cert and --proxy-key');
  });
  it('rejects unknown config-file fields with their path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const f = join(dir, 'c.yaml');
    writeFileSync(f, 'webhook:\n  timeoutSecs: 5\n');
    expect(() => parseConfig([...base, '--config', f])).toThrow('webhook.timeoutSecs: unknown field');
    writeFileSync(f, 'proxy:\n  oidc:\n  - issuerURL: http://plain\n    audience: a\n');
    expect(() => parseConfig([...base, '--config', f])).toThrow('proxy.oidc[0].issuerURL: must be an https:// URL');
  });

  it('turns tracing on by flag or by the OpenTelemetry variables, and names a bad endpoint or ratio', () => {
    const saved = { ...process.env };
    try {
      delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
      delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      expect(parseConfig(base).tracing).toBeUndefined();
      expect(parseConfig([...base, '--tracing-endpoint', 'http://otel:4318/v1/traces', '--tracing-sample-ratio', '0.25']).tracing).toEqual({ endpoint: 'http://otel:4318/v1/traces', sampleRatio: 0.25 });
      expect(() => parseConfig([...base, '--tracing-endpoint', 'otel:4318'])).toThrow('--tracing-endpoint: must be an http(s) URL');
      expect(() => parseConfig([...base, '--tracing-endpoint', 'http://otel:4318/v1/traces', '--tracing-sample-ratio', '2'])).toThrow('--tracing-sample-ratio: must be a number within 0..1');
      expect(() => parseConfig([...base, '--tracing-sample-ratio', '0.5'])).toThrow('--tracing-sample-ratio: needs --tracing-endpoint');
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://collector:4318/';
      expect(parseConfig(base).tracing).toEqual({ endpoint: 'http://collector:4318/v1/traces', sampleRatio: 1 });
      process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = 'http://traces:4318/custom';
      expect(parseConfig(base).tracing?.endpoint).toBe('http://traces:4318/custom');
    } finally {
      process.env = saved;
    }
  });
});
