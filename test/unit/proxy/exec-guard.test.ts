// The guard before an exec runs: no argv word may carry a value the pod holds, however it is spelled.
import { describe, expect, it } from '@jest/globals';
import { createMaskerFactory } from '../../../src/masking/index.js';
import { execMaskers, printedForms } from '../../../src/proxy/exec-guard.js';
import type { RequestInfo } from '../../../src/proxy/request-info.js';
import { STRICTEST_MASKING } from '../../../src/proxy/context.js';

const VALUE = 'cnryexecenv5c1f0e9a7d3b2468';
const execOutput = createMaskerFactory({ key: Buffer.alloc(32, 1) }).execOutput!;
const info = (...command: string[]): RequestInfo => {
  const params = new URLSearchParams();
  for (const c of command) params.append('command', c);
  return { name: 'app', params } as unknown as RequestInfo;
};

describe('printedForms', () => {
  it('decodes the escapes printf-like programs and URL paths would', () => {
    const forms = (w: string) => printedForms(w).map((b) => b.toString('latin1'));
    expect(forms('cnryexe\\x63')).toContain('cnryexec');
    expect(forms('cnryexe\\143')).toContain('cnryexec');
    expect(forms('cnryexe\\0143')).toContain('cnryexec');
    expect(forms('cnryexe\\u0063')).toContain('cnryexec');
    expect(forms('/cnryexe%63')).toContain('/cnryexec');
    expect(forms('plain')).toEqual(['plain']);
    expect(forms('a\\qb\\')).toContain('a\\qb\\');
  });
});

describe('execMaskers', () => {
  it('refuses an argv carrying a value, a fragment of one, or an escaped fragment; lets others through', () => {
    const refused = (...argv: string[]) => 'refuse' in execMaskers(execOutput, STRICTEST_MASKING, [VALUE], info(...argv));
    expect(refused('ls', `/${VALUE}`)).toBe(true);
    expect(refused('ls', `/${VALUE.slice(5, 13)}`)).toBe(true);
    expect(refused('stat', '--printf=cnryexe\\x63|cnryexe\\x78\\n', '/')).toBe(true);
    expect(refused('curl', '-s', 'http://localhost:8080/cnryexe%63')).toBe(true);
    expect(refused('ls', '/cnryexe')).toBe(false);
    expect(refused('env')).toBe(false);
    const r = execMaskers(execOutput, STRICTEST_MASKING, [VALUE], info('ls', '/x'));
    expect('refuse' in r ? r.refuse.message : '').toBe('');
  });

  it('refuses a target whose values are too many to search for, with a Status that says so', () => {
    const many = Array.from({ length: 400 }, (_, i) => `${i}`.padEnd(4000, 'y'));
    const r = execMaskers(execOutput, STRICTEST_MASKING, many, info('ls'));
    expect('refuse' in r && r.refuse.message).toMatch(/too large to mask its output/);
  });
});
