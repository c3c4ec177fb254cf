// No module reads the environment or makes state when imported: every module of the build is imported in
// a fresh process whose process.env throws on any read, and afterwards no timer, socket or file handle
// may be open. (The composition root reads the environment once, in main(), and makes everything else.)
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureBuilt, ROOT } from '../../helpers/build.js';

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? modules(p) : p.endsWith('.js') ? [p] : [];
  });
}

describe('imports', () => {
  it('no module of dist/src reads process.env or leaves a handle open at import', () => {
    ensureBuilt();
    const files = modules(join(ROOT, 'dist/src'));
    expect(files.length).toBeGreaterThan(50);
    const script = `
      const real = process.env;
      const reads = new Set();
      // Node's own start-up has read what it needs; from here on, reads are the modules'.
      // A read counts when the code doing it is Airlock's (libraries such as undici read their own switches).
      const ours = () => {
        const frame = (new Error().stack ?? '').split(String.fromCharCode(10)).slice(3).find((l) => !l.includes('node:'));
        return frame !== undefined && frame.includes('/dist/src/');
      };
      Object.defineProperty(process, 'env', { configurable: true, get() { return new Proxy(real, { get(t, k) { if (typeof k === 'string' && ours()) reads.add(k); return t[k]; } }); } });
      const files = JSON.parse(process.argv[1]);
      // The standard streams are made on first use; they are the process's, not a module's.
      void process.stdout; void process.stderr;
      const count = (list) => list.reduce((m, r) => m.set(r, (m.get(r) ?? 0) + 1), new Map());
      const before = count(process.getActiveResourcesInfo());
      for (const f of files) await import(f);
      const open = [...count(process.getActiveResourcesInfo())].filter(([r, n]) => n > (before.get(r) ?? 0)).map(([r]) => r);
      Object.defineProperty(process, 'env', { value: real });
      // Exit here: a timer left by a module would otherwise keep this process (and the test) waiting.
      process.stdout.write(JSON.stringify({ reads: [...reads], open }), () => process.exit(0));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(files)], { encoding: 'utf8', cwd: ROOT, timeout: 50_000 });
    const { reads, open } = JSON.parse(out) as { reads: string[]; open: string[] };
    expect({ reads, open }).toEqual({ reads: [], open: [] });
    expect(files.map((f) => relative(ROOT, f))).toContain('dist/src/main/index.js');
  }, 60000);
});
