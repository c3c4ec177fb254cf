// dangerousCommand: container commands, args, lifecycle hooks and exec probes that pipe downloads into an
// interpreter or wipe filesystems.
import type { Explanation } from '../types.js';
import type { Detector } from './types.js';
import { containersOf, hit, podSpecs, rec, strs } from './util.js';

const SHELL = '(?:sudo\\s+)?(?:\\S*/)?(?:ba|z|k|da|a)?sh|(?:\\S*/)?(?:python[0-9.]*|perl|ruby|node|php)';
const PATTERNS: { re: RegExp; what: string }[] = [
  { re: new RegExp(`\\b(?:curl|wget|fetch)\\b[^|;&\\n]*\\|\\s*(?:${SHELL})\\b`), what: 'pipes a download into an interpreter' },
  { re: new RegExp(`\\b(?:${SHELL})\\s+<\\(\\s*(?:curl|wget)\\b`), what: 'runs a downloaded script via process substitution' },
  { re: new RegExp(`\\b(?:${SHELL})\\s+-c\\s+["']?\\$\\(\\s*(?:curl|wget)\\b`), what: 'runs a downloaded script via command substitution' },
  { re: new RegExp(`\\bbase64\\s+(?:-d|--decode|-D)\\b[^|;&\\n]*\\|\\s*(?:${SHELL})\\b`), what: 'pipes decoded base64 into an interpreter' },
  { re: /\brm\s+(?:-{1,2}[a-zA-Z-]+\s+)*(?:--no-preserve-root\s+)?(?:-{1,2}[a-zA-Z-]+\s+)*["']?\/(?:\*|\s*\*)?["']?(?:\s|$|;|&|\|)/, what: 'removes the root filesystem' },
  { re: /\bmkfs(?:\.[a-z0-9]+)?\b/, what: 'formats a filesystem' },
  { re: /\bdd\b[^;|&\n]*\bof=\/dev\//, what: 'writes raw to a device' },
  { re: /:\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:/, what: 'fork bomb' },
  { re: /\b(?:shred|wipefs)\b[^;|&\n]*\/dev\//, what: 'wipes a device' },
];

/** Returns what is dangerous about a command line, or undefined. Exported for tests and the CLI. */
export function dangerousText(text: string): string | undefined {
  for (const p of PATTERNS) if (p.re.test(text)) return p.what;
  return undefined;
}

function rmRoot(words: string[]): boolean {
  // rm with recursive+force flags targeting / or /* (as separate argv words, no shell involved)
  const i = words.findIndex((w) => /(?:^|\/)rm$/.test(w));
  if (i < 0) return false;
  const rest = words.slice(i + 1);
  const flags = rest.filter((w) => w.startsWith('-')).join(' ');
  const recursive = /(?:^|\s)-[a-zA-Z]*r|--recursive|-[a-zA-Z]*R/.test(flags);
  return recursive && rest.some((w) => w === '/' || w === '/*');
}

export const dangerousCommand: Detector = (req) => {
  const out: Explanation[] = [];
  const check = (words: string[], path: string): void => {
    const text = words.join(' ');
    const what = dangerousText(text) ?? (rmRoot(words) ? 'removes the root filesystem' : undefined);
    if (what) out.push(hit('dangerousCommand', path, `${what}: ${JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text)}`));
  };
  for (const ps of podSpecs(req)) {
    for (const { c, path } of containersOf(ps)) {
      const command = strs(c.command);
      const args = strs(c.args);
      if (command.length || args.length) check([...command, ...args], command.length ? `${path}.command` : `${path}.args`);
      const lc = rec(c.lifecycle);
      for (const hook of ['postStart', 'preStop']) {
        const cmd = strs(rec(rec(lc?.[hook])?.exec)?.command);
        if (cmd.length) check(cmd, `${path}.lifecycle.${hook}.exec.command`);
      }
      for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const cmd = strs(rec(rec(c[probe])?.exec)?.command);
        if (cmd.length) check(cmd, `${path}.${probe}.exec.command`);
      }
    }
  }
  return out;
};
