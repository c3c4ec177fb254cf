// The last check before an allowed exec runs: its output can be masked (the target's values are not too
// many to search for), and its argv does not carry a value the pod holds. An agent has no reason to type a
// secret it cannot see, and a command that echoes its arguments (`ls /guess`, `stat --printf`) would tell
// it, through what comes back masked, which guess was right.
import { TooManyValues, type ExecOutputMaskers, type MaskerFactory } from '../masking/index.js';
import type { ResolvedMasking } from '../policy/types.js';
import type { RequestInfo } from './request-info.js';
import { kubeStatus, type KubeStatus } from './status.js';

/** The exec's output maskers, or the Status refusing it. */
export function execMaskers(
  execOutput: NonNullable<MaskerFactory['execOutput']>,
  rules: ResolvedMasking,
  values: (string | Buffer)[],
  info: RequestInfo,
): ExecOutputMaskers | { refuse: KubeStatus } {
  let maskers: ExecOutputMaskers;
  try {
    maskers = execOutput(rules, values);
  } catch (err) {
    if (!(err instanceof TooManyValues)) throw err;
    return { refuse: kubeStatus(403, `airlock: the Secrets and ConfigMaps pod ${info.name} uses are too large to mask its output (${err.message}); exec and attach are refused`, 'Forbidden') };
  }
  const word = info.params.getAll('command').findIndex((w) => printedForms(w).some((b) => maskers.reveals(b)));
  if (word >= 0) return { refuse: kubeStatus(403, `airlock: command[${word}] carries a secret value (or part of one) that pod ${info.name} holds; nothing was run`, 'Forbidden') };
  return maskers;
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { a: 7, b: 8, e: 27, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39 };

/**
 * An argv word as bytes: as written, and as a program that decodes escapes would print it: backslash
 * escapes (printf's \xHH, \NNN, \0NNN, \uHHHH, \UHHHHHHHH, \n, ...; stat --printf, echo -e) and URL
 * percent escapes (a local server decoding its path).
 */
export function printedForms(w: string): Buffer[] {
  const raw = Buffer.from(w, 'utf8');
  const out: Buffer[] = [raw];
  if (raw.includes(0x5c)) out.push(backslashDecoded(raw));
  if (raw.includes(0x25)) out.push(Buffer.from(raw.toString('latin1').replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1'));
  return out;
}

function backslashDecoded(raw: Buffer): Buffer {
  const s = raw.toString('latin1');
  const bytes: number[] = [];
  const hexRun = (at: number, max: number): string => /^[0-9a-fA-F]*/.exec(s.slice(at, at + max))![0];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x5c || i + 1 >= s.length) {
      bytes.push(c);
      continue;
    }
    const n = s[i + 1]!;
    if (n === 'x' || n === 'u' || n === 'U') {
      const h = hexRun(i + 2, n === 'x' ? 2 : n === 'u' ? 4 : 8);
      if (h) {
        const cp = parseInt(h, 16);
        if (n === 'x') bytes.push(cp);
        else for (const b of Buffer.from(String.fromCodePoint(Math.min(cp, 0x10ffff)), 'utf8')) bytes.push(b);
        i += 1 + h.length;
        continue;
      }
    } else if (n >= '0' && n <= '7') {
      const o = /^0?[0-7]{1,3}/.exec(s.slice(i + 1))![0];
      bytes.push(parseInt(o, 8) & 0xff);
      i += o.length;
      continue;
    } else if (n in SIMPLE_ESCAPES) {
      bytes.push(SIMPLE_ESCAPES[n]!);
      i++;
      continue;
    }
    bytes.push(c);
  }
  return Buffer.from(bytes);
}
