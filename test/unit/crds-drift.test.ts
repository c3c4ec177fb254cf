import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderCrds } from '../../src/api/generate.js';
import { validateObject } from '../../src/api/validate.js';

describe('crds/ is generated from src/api', () => {
  it('has exactly the generated files with the generated content (run `make crds` after a schema change)', () => {
    const rendered = renderCrds();
    const onDisk = readdirSync(join(process.cwd(), 'crds')).filter((f) => f.endsWith('.yaml')).sort();
    expect(onDisk).toEqual([...rendered.keys()].sort());
    for (const [file, text] of rendered) {
      expect(readFileSync(join(process.cwd(), 'crds', file), 'utf8')).toBe(text);
    }
  });
});

describe('runtime validation with ajv names the field', () => {
  it('accepts a minimal valid AgentPolicy', () => {
    const r = validateObject('AgentPolicy', { spec: { agents: { users: ['agent-ci'] }, defaultAction: 'deny' } });
    expect(r).toEqual({ valid: true, errors: [] });
  });
  it('reports enum, type and required errors with field paths', () => {
    const r = validateObject('AgentPolicy', {
      spec: { agents: { groups: 'not-a-list' }, rules: [{ name: 'ok', action: 'allow' }, { action: 'nope' }] },
    });
    expect(r.valid).toBe(false);
    expect(r.errors).toEqual(
      expect.arrayContaining([
        'spec.agents.groups: must be array',
        'spec.rules[1].name: is required',
        'spec.rules[1].action: must be one of allow, deny, hold, mutate, audit',
      ]),
    );
  });
  it('rejects malformed durations in hold settings', () => {
    const r = validateObject('AgentPolicy', { spec: { agents: { users: ['a'] }, rules: [{ name: 'h', action: 'hold', hold: { ttl: 'forever' } }] } });
    expect(r.errors[0]).toMatch(/^spec\.rules\[0\]\.hold\.ttl: must match pattern/);
  });
});
