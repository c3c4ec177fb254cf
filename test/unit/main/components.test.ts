// The composition root's unit: components start in order, stop in reverse, leaderOnly ones only for a term
// of leadership, and a failed start stops what had started. Started here with fakes for every dependency.
import { describe, expect, it } from '@jest/globals';
import { lead, startComponents, type Component } from '../../../src/main/component.js';
import { silentLogger } from '../../../src/log.js';

interface FakeDeps { events: string[] }

function component(name: string, leaderOnly: boolean, opts: { fail?: boolean } = {}): Component<FakeDeps> {
  return {
    name,
    leaderOnly,
    async start(deps, signal) {
      if (opts.fail) throw new Error('port in use');
      deps.events.push(`start ${name}`);
      signal.addEventListener('abort', () => deps.events.push(`abort ${name}`), { once: true });
      return () => void deps.events.push(`stop ${name}`);
    },
  };
}

describe('components', () => {
  const all = [component('webhook', false), component('proxy', false), component('expiry', true), component('status', true)];

  it('starts the replica components in order and stops them in reverse', async () => {
    const deps: FakeDeps = { events: [] };
    const running = await startComponents(all, deps, { log: silentLogger, leaderOnly: false });
    expect(running.started).toEqual(['webhook', 'proxy']);
    await running.stop();
    expect(deps.events).toEqual(['start webhook', 'start proxy', 'abort webhook', 'abort proxy', 'stop proxy', 'stop webhook']);
  });

  it('runs leaderOnly components for one term of leadership', async () => {
    const deps: FakeDeps = { events: [] };
    const term = new AbortController();
    const led = lead(all, deps, term.signal, silentLogger);
    await new Promise((r) => setTimeout(r, 10));
    expect(deps.events).toEqual(['start expiry', 'start status']);
    term.abort();
    await led;
    expect(deps.events.slice(2).filter((e) => e.startsWith('stop'))).toEqual(['stop status', 'stop expiry']);
  });

  it('a failed start stops the components started before it and names the one that failed', async () => {
    const deps: FakeDeps = { events: [] };
    await expect(startComponents([component('webhook', false), component('proxy', false, { fail: true })], deps, { log: silentLogger, leaderOnly: false })).rejects.toThrow('proxy: port in use');
    expect(deps.events).toEqual(['start webhook', 'abort webhook', 'stop webhook']);
  });
});
