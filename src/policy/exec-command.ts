// Exec commands: what a pods/exec argv really runs (wrappers such as env, sudo or timeout peeled off),
// allow-list patterns over that argv, and the hazard classes a policy can deny. The kubelet execs the argv
// words as they are (no shell unless argv[0] is one), so everything here is judged word by word, never on a
// joined string. Hazards are recognised by program name: a renamed or copied binary evades them, so
// allow-list patterns are the strong control and hazards the safety net. Rules: docs/exec-commands.md.

/** argv after wrappers are peeled off: what really runs. */
export interface EffectiveCommand {
  /** The original argv. */
  argv: readonly string[];
  /** Basename of the real program ('cat' for '/bin/cat', 'sh' for 'busybox sh'); '' for an empty argv. */
  program: string;
  /** The program word as written ('/bin/cat'). */
  programPath: string;
  /** Its arguments. */
  args: readonly string[];
  /** Wrappers peeled, outermost first (lower-case names: env, sudo, timeout, busybox, ...). */
  wrappers: readonly string[];
  /** NAME=value assignments made by env (or sudo) on the way. */
  env: Readonly<Record<string, string>>;
}

/** A compiled allow-list pattern, or an error naming what is wrong (policy validation shows it). */
export type CommandPattern = { source: string; matches(cmd: EffectiveCommand): boolean };

export interface ExecContext {
  /**
   * Absolute directories/files holding credentials in the target container: mounted Secret volumes, projected
   * ServiceAccount tokens, etc. (the caller reads them from the pod spec). /var/run/secrets, /run/secrets and
   * the other built-in credential paths are always added.
   */
  credentialPaths: readonly string[];
  /** container.workingDir when the pod spec sets one (otherwise relative paths have no known base). */
  workingDir?: string;
  /** stdin=true or tty=true on the request. */
  interactive: boolean;
}

export type HazardClass = 'inlineScript' | 'credentialRead' | 'networkElsewhere' | 'destructive' | 'interactive' | 'shell' | 'commandRunner';
export interface Hazard { class: HazardClass; message: string; /** index into argv */ arg?: number }

const MAX_PATTERN_LENGTH = 4096;
const MAX_PATTERN_WORDS = 256;
const MAX_WORD_SEGMENTS = 64;
/** Longer arguments never match a pattern word: bounds matching work on attacker-sized input. */
const MAX_MATCH_ARG = 16384;
/** Commands found inside other commands (xargs, find -exec, ...) analysed per call, and how deep. */
const MAX_INNER = 32;
const MAX_DEPTH = 6;

// ---------------------------------------------------------------------------------------------- helpers

function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

/** Lexical normalisation of an absolute path to its segments: '' and '.' drop out, '..' never climbs above /. */
function absSegments(p: string): string[] {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out;
}

const showPath = (segs: readonly string[]): string => `/${segs.join('/')}`;

/** A word quoted for a message, cut short. */
function q(s: string): string {
  return JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);
}

/** argv as strings whatever the caller passed: these functions must not throw. */
function asWords(argv: unknown): readonly string[] {
  if (!Array.isArray(argv)) return [];
  return argv.every((a) => typeof a === 'string') ? (argv as string[]) : argv.map((a) => (typeof a === 'string' ? a : ''));
}

const wordSet = (s: string): ReadonlySet<string> => new Set(s.split(' '));

// ----------------------------------------------------------------------------------- option parsing

interface Opt { name: string; arity: 0 | 1 | 2 }
interface OptTable { short: ReadonlyMap<string, Opt>; long: ReadonlyMap<string, Opt>; dash: boolean }
interface Found { name: string; value?: string }
type Parsed = { ok: true; next: number; found: Found[] } | { ok: false; reason: string };

/**
 * An option table from getopt-like entries: "u,unset:" is -u/--unset with a value (attached or the next
 * word), "d,differences::" one whose value can only be attached, plain names are flags. The longest name is
 * the canonical one. `dash`: a lone "-" is an option (env's -i).
 */
function optTable(entries: string, dash = false): OptTable {
  const short = new Map<string, Opt>();
  const long = new Map<string, Opt>();
  for (const e of entries.split(' ')) {
    if (!e) continue;
    const arity = e.endsWith('::') ? 2 : e.endsWith(':') ? 1 : 0;
    const names = e.replace(/:+$/, '').split(',');
    const o: Opt = { name: names.reduce((a, b) => (b.length > a.length ? b : a)), arity };
    for (const n of names) (n.length === 1 ? short : long).set(n, o);
  }
  return { short, long, dash };
}

/** getopt_long lookup: the exact name or a unique prefix of one. */
function longOpt(t: OptTable, name: string): Opt | undefined {
  const exact = t.long.get(name);
  if (exact || !name) return exact;
  let hit: Opt | undefined;
  for (const [k, o] of t.long) {
    if (!k.startsWith(name)) continue;
    if (hit && hit !== o) return undefined;
    hit = o;
  }
  return hit;
}

const flagName = (name: string): string => (name.length === 1 ? `-${name}` : `--${name}`);

/**
 * Options from argv[from] on, getopt_long style with "+" (stops at the first operand, as coreutils, sudo
 * and util-linux wrappers do). `special` claims words getopt would not (nice's -5).
 */
function parseOpts(argv: readonly string[], from: number, t: OptTable, special?: (w: string) => boolean): Parsed {
  const found: Found[] = [];
  let i = from;
  while (i < argv.length) {
    const w = argv[i]!;
    if (special?.(w)) {
      found.push({ name: '', value: w });
      i++;
      continue;
    }
    if (w === '--') {
      i++;
      break;
    }
    if (w === '-') {
      if (!t.dash) break;
      found.push({ name: '-' });
      i++;
      continue;
    }
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const o = longOpt(t, eq < 0 ? w.slice(2) : w.slice(2, eq));
      if (!o) return { ok: false, reason: `unknown option ${q(w)}` };
      if (o.arity === 0) {
        if (eq >= 0) return { ok: false, reason: `${flagName(o.name)} takes no value` };
        found.push({ name: o.name });
      } else if (eq >= 0) found.push({ name: o.name, value: w.slice(eq + 1) });
      else if (o.arity === 2) found.push({ name: o.name });
      else {
        if (i + 1 >= argv.length) return { ok: false, reason: `${flagName(o.name)} needs a value` };
        found.push({ name: o.name, value: argv[++i]! });
      }
      i++;
      continue;
    }
    if (w.startsWith('-')) {
      for (let k = 1; k < w.length; k++) {
        const o = t.short.get(w[k]!);
        if (!o) return { ok: false, reason: `unknown option ${q(`-${w[k]}`)}` };
        if (o.arity === 0) {
          found.push({ name: o.name });
          continue;
        }
        const rest = w.slice(k + 1);
        if (rest) found.push({ name: o.name, value: rest });
        else if (o.arity === 2) found.push({ name: o.name });
        else {
          if (i + 1 >= argv.length) return { ok: false, reason: `-${w[k]} needs a value` };
          found.push({ name: o.name, value: argv[++i]! });
        }
        break;
      }
      i++;
      continue;
    }
    break;
  }
  return { ok: true, next: i, found };
}

/** What GNU tools that permute their arguments (rm, cp, chmod, ...) see: operands and options anywhere. */
interface Gnu { pos: number[]; short: Set<string>; long: string[]; values: Map<string, { v: string; at: number }> }

function scanGnu(args: readonly string[], shortValue = '', longValue: readonly string[] = []): Gnu {
  const g: Gnu = { pos: [], short: new Set(), long: [], values: new Map() };
  for (let j = 0; j < args.length; j++) {
    const a = args[j]!;
    if (a === '--') {
      for (let k = j + 1; k < args.length; k++) g.pos.push(k);
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const nm = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const full = longValue.includes(nm) ? nm : nm.length >= 3 ? longValue.find((l) => l.startsWith(nm)) : undefined;
      g.long.push(full ?? nm);
      if (full !== undefined) {
        if (eq >= 0) g.values.set(full, { v: a.slice(eq + 1), at: j });
        else if (j + 1 < args.length) g.values.set(full, { v: args[++j]!, at: j });
      }
      continue;
    }
    if (a.length > 1 && a[0] === '-') {
      for (let k = 1; k < a.length; k++) {
        const ch = a[k]!;
        g.short.add(ch);
        if (!shortValue.includes(ch)) continue;
        if (k + 1 < a.length) g.values.set(ch, { v: a.slice(k + 1), at: j });
        else if (j + 1 < args.length) g.values.set(ch, { v: args[++j]!, at: j });
        break;
      }
      continue;
    }
    g.pos.push(j);
  }
  return g;
}

/** A long option given in full or abbreviated, as getopt_long accepts it. */
const hasLong = (g: Gnu, name: string): boolean => g.long.some((n) => n.length > 0 && name.startsWith(n));
const gnuValue = (g: Gnu, ...names: string[]): { v: string; at: number } | undefined => {
  for (const n of names) {
    const v = g.values.get(n);
    if (v) return v;
  }
  return undefined;
};

// ------------------------------------------------------------------------------------------ wrappers

type Wrapped =
  | { kind: 'peel'; next: number; env: [string, string, number][] }
  | { kind: 'none' }
  | { kind: 'stuck'; reason: string; cls: HazardClass };
type Wrapper = (argv: readonly string[], at: number) => Wrapped;

interface WrapSpec {
  /** Options after which nothing runs (help, version, list): the wrapper itself is the program. */
  none?: readonly string[];
  /** Options that change what or where the command runs in ways not modelled: not peeled. */
  unsupported?: readonly string[];
  /** Options that start a shell instead of the command. */
  shell?: readonly string[];
  /** Trailing NAME=value words are environment assignments (env, sudo). */
  assign?: boolean;
  special?: (w: string) => boolean;
  /** Why an option value would make the wrapper refuse to run, if it would. */
  check?: (o: Found) => string | undefined;
  /** Operands before the command (timeout's duration): the index of the command, or why there is none. */
  positional?: (argv: readonly string[], i: number, found: readonly Found[]) => number | string;
}

const stuck = (reason: string, cls: HazardClass = 'commandRunner'): Wrapped => ({ kind: 'stuck', reason, cls });

function wrapper(t: OptTable, spec: WrapSpec = {}): Wrapper {
  return (argv, at) => {
    const r = parseOpts(argv, at + 1, t, spec.special);
    if (!r.ok) return stuck(r.reason);
    for (const o of r.found) {
      if (spec.unsupported?.includes(o.name)) return stuck(`${flagName(o.name)} is not supported`);
      if (spec.shell?.includes(o.name)) return stuck(`${flagName(o.name)} starts a shell`, 'shell');
      const bad = spec.check?.(o);
      if (bad) return stuck(bad);
    }
    if (r.found.some((o) => spec.none?.includes(o.name))) return { kind: 'none' };
    let i = r.next;
    if (spec.positional) {
      const p = spec.positional(argv, i, r.found);
      if (typeof p === 'string') return stuck(p);
      i = p;
    }
    const env: [string, string, number][] = [];
    if (spec.assign) {
      for (; i < argv.length && argv[i]!.includes('='); i++) {
        const a = argv[i]!;
        const eq = a.indexOf('=');
        env.push([a.slice(0, eq), a.slice(eq + 1), i]);
      }
    }
    return { kind: 'peel', next: i, env };
  };
}

const HELP = ['help', 'version'];
const INTEGER = /^[-+]?\d+$/;
const DURATION = /^(?:\d+(?:\.\d*)?|\.\d+)[smhd]?$/;

/** busybox/toybox APPLET args: the applet is the program. */
const multiCall: Wrapper = (argv, at) => {
  const a = argv[at + 1];
  if (a === undefined || a === '--help' || a === '--list' || a === '--list-full') return { kind: 'none' };
  if (a.startsWith('-')) return stuck(`${q(a)} is not supported`);
  return { kind: 'peel', next: at + 1, env: [] };
};

const WRAPPERS: ReadonlyMap<string, Wrapper> = new Map<string, Wrapper>([
  ['env', wrapper(optTable('i,ignore-environment u,unset: C,chdir: S,split-string: v,debug 0,null block-signal:: default-signal:: ignore-signal:: list-signal-handling help version', true), {
    none: HELP, unsupported: ['chdir', 'split-string'], assign: true,
  })],
  ['sudo', wrapper(optTable('A,askpass a: B,bell b,background C,close-from: c,login-class: D,chdir: E,preserve-env:: e,edit g,group: H,set-home h:: help host: i,login K,remove-timestamp k,reset-timestamp l,list N,no-update n,non-interactive P,preserve-groups p,prompt: R,chroot: r,role: S,stdin s,shell T,command-timeout: t,type: U,other-user: u,user: V,version v,validate'), {
    none: ['h', 'list', 'validate', 'remove-timestamp', ...HELP], unsupported: ['edit', 'chdir', 'chroot', 'host'], shell: ['login', 'shell'], assign: true,
    check: (o) => (o.name === 'h' && o.value !== undefined ? '-h HOST is not supported' : undefined),
  })],
  ['doas', wrapper(optTable('C: L n s u:'), { none: ['C', 'L'], shell: ['s'] })],
  ['nice', wrapper(optTable('n,adjustment: help version'), {
    none: HELP, special: (w) => /^-[-+]?\d/.test(w),
    check: (o) => (o.name === '' ? !/^-[-+]?\d+$/.test(o.value ?? '') : o.name === 'adjustment' && !INTEGER.test(o.value ?? '')) ? `invalid adjustment ${q(o.value ?? '')}` : undefined,
  })],
  ['nohup', wrapper(optTable('help version'), { none: HELP })],
  ['timeout', wrapper(optTable('f,foreground k,kill-after: p,preserve-status s,signal: v,verbose t: help version'), {
    none: HELP,
    check: (o) => ((o.name === 'kill-after' || o.name === 't') && !DURATION.test(o.value ?? '') ? `invalid duration ${q(o.value ?? '')}` : undefined),
    // busybox before 1.30 took the duration as -t SECS
    positional: (argv, i, found) => (found.some((o) => o.name === 't') ? i : DURATION.test(argv[i] ?? '') ? i + 1 : `no valid duration before the command`),
  })],
  ['stdbuf', wrapper(optTable('i,input: o,output: e,error: help version'), { none: HELP, positional: (_argv, i, found) => (found.length ? i : 'no buffering option given') })],
  ['ionice', wrapper(optTable('c,class: n,classdata: t,ignore p,pid: P,pgid: u,uid: h,help V,version'), {
    none: HELP, unsupported: ['pid', 'pgid', 'uid'],
    check: (o) => (o.name === 'class' && !/^(?:[0-3]|none|realtime|best-effort|idle)$/i.test(o.value ?? '')) || (o.name === 'classdata' && !INTEGER.test(o.value ?? '')) ? `invalid ${flagName(o.name)} ${q(o.value ?? '')}` : undefined,
  })],
  ['setsid', wrapper(optTable('c,ctty f,fork w,wait h,help V,version'), { none: HELP })],
  ['time', wrapper(optTable('f,format: p,portability o,output: a,append v,verbose q,quiet V,version help'), { none: HELP, unsupported: ['output'] })],
  ['command', wrapper(optTable('p v V'), { none: ['v', 'V'] })],
  ['exec', wrapper(optTable('c l a:'))],
  ['chrt', wrapper(optTable('a,all-tasks b,batch d,deadline e,ext f,fifo i,idle o,other r,rr R,reset-on-fork T,sched-runtime: P,sched-period: D,sched-deadline: v,verbose m,max p,pid h,help V,version'), {
    none: ['max', ...HELP], unsupported: ['pid'],
    // newer util-linux lets the priority be left out for policies that have none
    positional: (argv, i) => (/^\d+$/.test(argv[i] ?? '') ? i + 1 : i),
  })],
  ['taskset', wrapper(optTable('a,all-tasks c,cpu-list p,pid h,help V,version'), {
    none: HELP, unsupported: ['pid'],
    positional: (argv, i, found) => {
      const m = argv[i] ?? '';
      const ok = found.some((o) => o.name === 'cpu-list') ? /^[\d,:-]+$/.test(m) : /^(?:0x)?[\da-f]+$/i.test(m);
      return ok ? i + 1 : `invalid CPU mask ${q(m)}`;
    },
  })],
  ['busybox', multiCall],
  ['toybox', multiCall],
  ['pkexec', wrapper(optTable('user: keep-cwd disable-internal-agent help version'), { none: HELP })],
]);

interface Peeled {
  eff: EffectiveCommand;
  /** Index of the program word. */
  at: number;
  /** Indices of the wrapper words peeled. */
  wrapperAt: number[];
  /** Index of the word that made each env assignment. */
  assignAt: Map<string, number>;
  blocked?: { reason: string; cls: HazardClass };
}

function peel(argv: readonly string[]): Peeled {
  const wrappers: string[] = [];
  const wrapperAt: number[] = [];
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  const assignAt = new Map<string, number>();
  let at = 0;
  let blocked: Peeled['blocked'];
  while (at < argv.length) {
    const name = basename(argv[at]!).toLowerCase();
    const w = WRAPPERS.get(name);
    if (!w) break;
    const r = w(argv, at);
    if (r.kind === 'stuck') {
      blocked = { reason: r.cls === 'commandRunner' ? `${r.reason}, so what it runs is unknown` : r.reason, cls: r.cls };
      break;
    }
    // nothing to run (env alone prints the environment): the wrapper is the program
    if (r.kind === 'none' || r.next >= argv.length) break;
    wrappers.push(name);
    wrapperAt.push(at);
    for (const [k, v, i] of r.env) {
      env[k] = v;
      assignAt.set(k, i);
    }
    at = r.next;
  }
  const programPath = argv[at] ?? '';
  return { at, wrapperAt, assignAt, ...(blocked ? { blocked } : {}), eff: { argv, program: basename(programPath), programPath, args: argv.slice(at + 1), wrappers, env } };
}

/** What an exec argv really runs: wrappers (env, sudo, timeout, busybox, ...) peeled off. */
export function effectiveCommand(argv: readonly string[]): EffectiveCommand {
  return peel(asWords(argv)).eff;
}

// ------------------------------------------------------------------------------------------ patterns

type Item = { t: 'c'; c: number } | { t: '*' } | { t: '?' } | { t: '['; neg: boolean; ranges: number[] };
interface PWord { items: Item[]; quoted: boolean }
type Seg = { dstar: true } | { dstar: false; items: Item[]; literal: string | undefined };
interface PathGlob { abs: boolean; segs: Seg[]; dstar: boolean }

const isBlank = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';

function parseClass(cps: readonly string[], start: number): { item: Item; next: number } | string {
  let j = start + 1;
  let neg = false;
  if (cps[j] === '!' || cps[j] === '^') {
    neg = true;
    j++;
  }
  const ranges: number[] = [];
  for (let first = true; ; first = false) {
    if (j >= cps.length) return 'unterminated "[" (quote it to match a literal "[")';
    let ch = cps[j]!;
    if (ch === ']' && !first) return { item: { t: '[', neg, ranges }, next: j + 1 };
    if (ch === '[' && cps[j + 1] === ':') return 'character classes like [:alpha:] are not supported';
    if (ch === '\\' && j + 1 < cps.length) ch = cps[++j]!;
    const lo = ch.codePointAt(0)!;
    j++;
    if (cps[j] === '-' && j + 1 < cps.length && cps[j + 1] !== ']') {
      let hiCh = cps[j + 1]!;
      j += 2;
      if (hiCh === '\\' && j < cps.length) hiCh = cps[j++]!;
      const hi = hiCh.codePointAt(0)!;
      if (hi < lo) return `bad range ${q(`${ch}-${hiCh}`)} in "[...]"`;
      ranges.push(lo, hi);
    } else ranges.push(lo, lo);
  }
}

/** Shell-like words: '...' is literal, "..." allows \" \\ \$ \`, a backslash quotes the next character. */
function tokenize(src: string): PWord[] | string {
  const cps = Array.from(src);
  const out: PWord[] = [];
  let cur: PWord | undefined;
  const lit = (ch: string): void => {
    cur!.items.push({ t: 'c', c: ch.codePointAt(0)! });
  };
  for (let i = 0; i < cps.length; ) {
    const ch = cps[i]!;
    if (isBlank(ch)) {
      if (cur) out.push(cur);
      cur = undefined;
      i++;
      continue;
    }
    cur ??= { items: [], quoted: false };
    if (ch === "'") {
      const end = cps.indexOf("'", i + 1);
      if (end < 0) return 'unbalanced single quote';
      for (let k = i + 1; k < end; k++) lit(cps[k]!);
      cur.quoted = true;
      i = end + 1;
    } else if (ch === '"') {
      cur.quoted = true;
      for (i++; ; ) {
        if (i >= cps.length) return 'unbalanced double quote';
        const d = cps[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < cps.length && '"\\$`'.includes(cps[i + 1]!)) {
          lit(cps[i + 1]!);
          i += 2;
        } else {
          lit(d);
          i++;
        }
      }
    } else if (ch === '\\') {
      if (i + 1 >= cps.length) return 'trailing backslash';
      lit(cps[i + 1]!);
      cur.quoted = true;
      i += 2;
    } else if (ch === '*' || ch === '?') {
      cur.items.push({ t: ch });
      i++;
    } else if (ch === '[') {
      const r = parseClass(cps, i);
      if (typeof r === 'string') return r;
      cur.items.push(r.item);
      i = r.next;
    } else {
      lit(ch);
      i++;
    }
  }
  if (cur) out.push(cur);
  return out;
}

function compileWord(w: PWord): PathGlob | string {
  const parts: Item[][] = [[]];
  for (const it of w.items) {
    if (it.t === 'c' && it.c === 0x2f) parts.push([]);
    else parts[parts.length - 1]!.push(it);
  }
  const abs = parts.length > 1 && parts[0]!.length === 0;
  // absolute arguments are normalised, so the pattern's // and trailing / collapse the same way
  const raw = abs ? parts.slice(1).filter((p) => p.length > 0) : parts;
  if (raw.length > MAX_WORD_SEGMENTS) return `more than ${MAX_WORD_SEGMENTS} path segments`;
  const segs: Seg[] = [];
  for (const p of raw) {
    if (p.length === 2 && p[0]!.t === '*' && p[1]!.t === '*') {
      segs.push({ dstar: true });
      continue;
    }
    for (let k = 0; k + 1 < p.length; k++) if (p[k]!.t === '*' && p[k + 1]!.t === '*') return '"**" must be a whole path segment';
    const literal = p.every((i) => i.t === 'c') ? String.fromCodePoint(...p.map((i) => (i as { c: number }).c)) : undefined;
    if (abs && (literal === '.' || literal === '..')) return `"${literal}" in an absolute path never matches (arguments are normalised)`;
    segs.push({ dstar: false, items: p, literal });
  }
  return { abs, segs, dstar: segs.some((s) => s.dstar) };
}

function itemMatches(it: Item, cp: number): boolean {
  if (it.t === 'c') return it.c === cp;
  if (it.t === '?') return true;
  if (it.t === '*') return false;
  let hit = false;
  for (let k = 0; k < it.ranges.length && !hit; k += 2) hit = cp >= it.ranges[k]! && cp <= it.ranges[k + 1]!;
  return hit !== it.neg;
}

/** Wildcard match of one segment (no '/' on either side): greedy with backtracking to the last star, O(n·m). */
function wildcard(items: readonly Item[], s: string): boolean {
  const cps = Array.from(s, (ch) => ch.codePointAt(0)!);
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (j < cps.length) {
    const it = items[i];
    if (it && it.t !== '*' && itemMatches(it, cps[j]!)) {
      i++;
      j++;
    } else if (it && it.t === '*') {
      star = i++;
      mark = j;
    } else if (star >= 0) {
      i = star + 1;
      j = ++mark;
    } else return false;
  }
  while (i < items.length && items[i]!.t === '*') i++;
  return i === items.length;
}

function segMatches(p: Seg, s: string): boolean {
  if (p.dstar) return s !== '.' && s !== '..';
  // a wildcard never stands for "." or ".."
  if (s === '.' || s === '..') return p.literal === s;
  return p.literal !== undefined ? p.literal === s : wildcard(p.items, s);
}

function matchSegs(g: PathGlob, segs: readonly string[]): boolean {
  const P = g.segs;
  if (!g.dstar) return P.length === segs.length && P.every((p, k) => segMatches(p, segs[k]!));
  // dp[j]: the first j pattern segments match the segments seen so far; "**" takes zero or more
  const closure = (d: boolean[]): void => {
    for (let j = 0; j < P.length; j++) if (P[j]!.dstar && d[j]) d[j + 1] = true;
  };
  let dp: boolean[] = new Array<boolean>(P.length + 1).fill(false);
  dp[0] = true;
  closure(dp);
  for (const s of segs) {
    const next = new Array<boolean>(P.length + 1).fill(false);
    for (let j = 0; j < P.length; j++) {
      const p = P[j]!;
      if (p.dstar ? dp[j + 1] : dp[j]) next[j + 1] ||= segMatches(p, s);
    }
    closure(next);
    if (!next.includes(true)) return false;
    dp = next;
  }
  return dp[P.length]!;
}

function matchArg(g: PathGlob, arg: string): boolean {
  if (typeof arg !== 'string' || arg.length > MAX_MATCH_ARG) return false;
  const abs = arg.startsWith('/');
  if (abs !== g.abs) return false;
  return matchSegs(g, abs ? absSegments(arg) : arg.split('/'));
}

const isRestWord = (w: PWord): boolean => !w.quoted && w.items.length === 3 && w.items.every((i) => i.t === 'c' && i.c === 0x2e);

/**
 * Compiles an allow-list pattern: shell-like words, the first naming the program, each further word one
 * argument (a glob), a final `...` any remaining arguments. See docs/exec-commands.md for the exact rules.
 */
export function compileCommandPattern(source: string): CommandPattern | { error: string } {
  if (typeof source !== 'string') return { error: 'pattern must be a string' };
  if (source.length > MAX_PATTERN_LENGTH) return { error: `pattern is longer than ${MAX_PATTERN_LENGTH} characters` };
  const words = tokenize(source);
  if (typeof words === 'string') return { error: `${words} in pattern ${q(source)}` };
  if (words.length === 0) return { error: 'empty pattern: the first word must name the program' };
  if (words.length > MAX_PATTERN_WORDS) return { error: `pattern has more than ${MAX_PATTERN_WORDS} words` };
  if (isRestWord(words[0]!)) return { error: 'the first word must name the program, not "..."' };
  const restAt = words.findIndex(isRestWord);
  if (restAt >= 0 && restAt !== words.length - 1) return { error: '"..." must be the last word of the pattern' };
  const rest = restAt >= 0;
  const globs: PathGlob[] = [];
  for (const [k, w] of (rest ? words.slice(0, -1) : words).entries()) {
    const g = compileWord(w);
    if (typeof g === 'string') return { error: `${g} (word ${k + 1} of ${q(source)})` };
    globs.push(g);
  }
  const prog = globs[0]!;
  const argGlobs = globs.slice(1);
  const progWord = words[0]!;
  const progLiteral = progWord.items.every((i) => i.t === 'c') ? String.fromCodePoint(...progWord.items.map((i) => (i as { c: number }).c)) : undefined;
  if (progLiteral === '') return { error: 'the program name is empty' };
  const progHasSlash = progWord.items.some((i) => i.t === 'c' && i.c === 0x2f);
  // A pattern naming a wrapper describes the argv as written; any other pattern only commands run bare.
  const viaWrapper = progLiteral !== undefined && WRAPPERS.has(basename(progLiteral).toLowerCase());
  const matchProgram = (path: string): boolean => {
    if (progHasSlash) return matchArg(prog, path);
    // A bare name means the system's program: run bare (found on PATH) or from a system directory, never
    // a file of that name elsewhere (/tmp/ls, ./cat).
    if (path.includes('/') && !SYSTEM_BIN_DIRS.has(path.slice(0, path.lastIndexOf('/')))) return false;
    const b = basename(path);
    return b !== '' && b.length <= MAX_MATCH_ARG && matchSegs(prog, [b]);
  };
  return {
    source,
    matches(cmd: EffectiveCommand): boolean {
      const argv = asWords(cmd?.argv);
      if (argv.length === 0) return false;
      let path: string;
      let args: readonly string[];
      if (viaWrapper) {
        path = argv[0]!;
        args = argv.slice(1);
      } else {
        if (!Array.isArray(cmd.wrappers) || cmd.wrappers.length) return false;
        path = typeof cmd.programPath === 'string' ? cmd.programPath : '';
        args = asWords(cmd.args);
      }
      if (rest ? args.length < argGlobs.length : args.length !== argGlobs.length) return false;
      if (!matchProgram(path)) return false;
      return argGlobs.every((g, k) => matchArg(g, args[k]!));
    },
  };
}

/** Where a bare program name in a pattern may be found when the argv names it by path. */
const SYSTEM_BIN_DIRS = new Set(['/bin', '/usr/bin', '/sbin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']);

// ------------------------------------------------------------------------------- credential paths

/** A path segment of a credential location: literal, any name, a /proc pid (digits, self, thread-self) or a prefix. */
interface SegPat { lit?: string; pid?: boolean; any?: boolean; prefix?: string }
interface Root { pats: readonly SegPat[]; show: string }
interface Tail { pats: readonly SegPat[]; show: string }

const CREDENTIAL_PATHS = [
  '/var/run/secrets', '/run/secrets',
  '/proc/{pid}/environ', '/proc/{pid}/task/{pid}/environ', '/proc/{pid}/root', '/proc/{pid}/task/{pid}/root',
  '/proc/{pid}/cwd', '/proc/{pid}/task/{pid}/cwd', '/proc/{pid}/mem', '/proc/{pid}/task/{pid}/mem',
  '/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/ssh/ssh_host_*',
  '/etc/kubernetes', '/var/lib/kubelet', '/var/lib/etcd', '/etc/etcd',
];
/** Credential files and directories under a home directory: /root/X, /home/NAME/X and ~/X. */
const HOME_CREDENTIALS = ['.ssh', '.kube', '.aws', '.azure', '.config/gcloud', '.docker/config.json', '.netrc', '.git-credentials', '.pgpass', '.gnupg'];
/** Well-known credential locations inside the roots above whose tails identify them in relative paths. */
const CREDENTIAL_TAILS = ['/var/run/secrets/kubernetes.io/serviceaccount/token', '/var/run/secrets/eks.amazonaws.com/serviceaccount/token'];

function segPat(s: string): SegPat {
  if (s === '{pid}') return { pid: true };
  if (s === '*') return { any: true };
  if (s.length > 1 && s.endsWith('*')) return { prefix: s.slice(0, -1) };
  return { lit: s };
}

function segOk(p: SegPat, s: string): boolean {
  if (p.lit !== undefined) return p.lit === s;
  if (p.pid) return s === 'self' || s === 'thread-self' || /^\d+$/.test(s);
  if (p.any) return s !== '';
  return s.startsWith(p.prefix ?? '');
}

const showPats = (pats: readonly SegPat[]): string => pats.map((p) => p.lit ?? (p.pid ? '<pid>' : p.any ? '*' : `${p.prefix}*`)).join('/');

interface Ctx {
  wd: string | undefined;
  roots: readonly Root[];
  byFirst: ReadonlyMap<string, Root[]>;
  everything: Root | undefined;
  /** Tails by one literal segment and its position in the tail. */
  tails: ReadonlyMap<string, { tail: Tail; at: number }[]>;
  homes: readonly (readonly string[])[];
}

function buildCtx(ctx: ExecContext | undefined): Ctx {
  const roots: Root[] = [];
  for (const p of [...CREDENTIAL_PATHS, ...HOME_CREDENTIALS.flatMap((h) => [`/root/${h}`, `/home/*/${h}`])]) {
    roots.push({ pats: p.split('/').filter(Boolean).map(segPat), show: p });
  }
  const builtin = roots.length;
  const given: unknown = ctx?.credentialPaths;
  for (const p of Array.isArray(given) ? (given as unknown[]) : []) {
    if (typeof p !== 'string' || !p.startsWith('/')) continue;
    const segs = absSegments(p);
    roots.push({ pats: segs.map((lit) => ({ lit })), show: showPath(segs) });
  }
  const byFirst = new Map<string, Root[]>();
  let everything: Root | undefined;
  for (const r of roots) {
    const first = r.pats[0]?.lit;
    if (r.pats.length === 0) everything ??= r;
    else if (first !== undefined) {
      const list = byFirst.get(first);
      if (list) list.push(r);
      else byFirst.set(first, [r]);
    }
  }
  const tails = new Map<string, { tail: Tail; at: number }[]>();
  const seen = new Set<string>();
  const addTail = (pats: readonly SegPat[]): void => {
    const show = showPats(pats);
    let at = pats.length - 1;
    while (at >= 0 && pats[at]!.lit === undefined) at--;
    if (at < 0 || seen.has(show)) return;
    seen.add(show);
    const key = pats[at]!.lit!;
    const list = tails.get(key);
    if (list) list.push({ tail: { pats, show }, at });
    else tails.set(key, [{ tail: { pats, show }, at }]);
  };
  const tailsOf = (pats: readonly SegPat[]): void => {
    for (let n = 2; n <= pats.length; n++) addTail(pats.slice(pats.length - n));
  };
  for (const r of roots.slice(0, builtin)) tailsOf(r.pats);
  for (const p of CREDENTIAL_TAILS) tailsOf(p.split('/').filter(Boolean).map(segPat));
  for (const h of HOME_CREDENTIALS) addTail(h.split('/').map((lit) => ({ lit })));
  // a mounted credential directory's own name followed by anything: "db-creds/password"
  for (const r of roots.slice(builtin)) {
    tailsOf(r.pats);
    tailsOf([...r.pats, { any: true }]);
  }
  const wd = ctx?.workingDir;
  return {
    wd: typeof wd === 'string' && wd.startsWith('/') ? showPath(absSegments(wd)) : undefined,
    roots, byFirst, everything, tails, homes: HOME_CREDENTIALS.map((h) => h.split('/')),
  };
}

function insideRoot(segs: readonly string[], c: Ctx): Root | undefined {
  if (c.everything) return c.everything;
  for (const r of c.byFirst.get(segs[0] ?? '') ?? []) {
    if (segs.length >= r.pats.length && r.pats.every((p, k) => segOk(p, segs[k]!))) return r;
  }
  return undefined;
}

/** A credential location at or below this path: reading the path recursively reads it. */
function rootBelow(segs: readonly string[], c: Ctx): Root | undefined {
  for (const r of c.roots) if (segs.length <= r.pats.length && segs.every((s, k) => segOk(r.pats[k]!, s))) return r;
  return undefined;
}

function tailIn(segs: readonly string[], c: Ctx): Tail | undefined {
  for (let i = 0; i < segs.length; i++) {
    for (const { tail, at } of c.tails.get(segs[i]!) ?? []) {
      const start = i - at;
      if (start < 0 || start + tail.pats.length > segs.length) continue;
      if (tail.pats.every((p, k) => segOk(p, segs[start + k]!))) return tail;
    }
  }
  return undefined;
}

/** Characters that end a path embedded in a longer word (an option value, a script). */
const PATH_END = new Set([...' \t\n\r\f\v\'"`;|&()<>,:=@{}[]$']);
const isPathStart = (w: string, k: number): boolean => k === 0 || PATH_END.has(w[k - 1]!) || (k === 2 && w[0] === '-' && /[A-Za-z0-9]/.test(w[1]!));
/** Where relative-path runs break inside a word. */
const RUN_BREAK = PATH_END;

/**
 * /proc files that describe the machine, not a process: readable. Anything else in /proc (environments,
 * roots, working directories, open files of the container's processes) counts as a credential location.
 */
const SYSTEM_PROC = new Set(['cpuinfo', 'meminfo', 'loadavg', 'uptime', 'version', 'stat', 'diskstats', 'partitions', 'filesystems', 'mounts', 'swaps', 'vmstat', 'cgroups',
  'devices', 'interrupts', 'modules', 'net/dev', 'net/tcp', 'net/tcp6', 'net/udp', 'net/udp6', 'net/route', 'net/arp', 'net/sockstat']);

/**
 * Paths where the lexical form lies about where the kernel lands: ".." after a symlink (/proc/net and
 * /dev/fd point into /proc/self in every Linux container, and an image can hold its own), process files
 * under /proc, and /dev/fd or /dev/std* (a process's open files).
 */
function symlinkHit(path: string, w: string): string | undefined {
  const raw = path.split('/').filter((x) => x !== '' && x !== '.');
  if (raw.includes('..')) return `${q(w)} climbs with "..": through a symlink (/proc/net, /dev/fd, or one in the image) it can land anywhere`;
  if (raw[0] === 'proc' && raw.length > 1 && !SYSTEM_PROC.has(raw.slice(1).join('/'))) return `${q(w)} is in /proc: the environments, roots and open files of the container's processes`;
  if (raw[0] === 'dev' && (raw[1] === 'fd' || raw[1] === 'stdin' || raw[1] === 'stdout' || raw[1] === 'stderr')) return `${q(w)} is a process's open file (/dev/fd is /proc/self/fd)`;
  return undefined;
}

function absHit(path: string, w: string, c: Ctx): string | undefined {
  const odd = symlinkHit(path, w);
  if (odd) return odd;
  const segs = absSegments(path);
  const r = insideRoot(segs, c);
  if (!r) return undefined;
  const shown = showPath(segs);
  return shown === w ? `${q(w)} is inside ${r.show}` : `${q(w)} refers to ${shown}, inside ${r.show}`;
}

function homeHit(cand: string, w: string, c: Ctx): string | undefined {
  let rest: string;
  if (cand.startsWith('~')) {
    const slash = cand.indexOf('/');
    rest = slash < 0 ? '' : cand.slice(slash);
  } else if (cand.startsWith('${HOME}')) rest = cand.slice(7);
  else if (cand.startsWith('$HOME')) rest = cand.slice(5);
  else return undefined;
  if (rest !== '' && !rest.startsWith('/')) return undefined;
  const segs = absSegments(rest);
  const h = c.homes.find((e) => e.every((x, k) => segs[k] === x));
  return h ? `${q(w)} refers to ~/${h.join('/')} in a home directory` : undefined;
}

function relHit(cand: string, w: string, c: Ctx): string | undefined {
  if (c.wd !== undefined) return absHit(`${c.wd}/${cand}`, w, c);
  let start = 0;
  for (let k = 0; k <= cand.length; k++) {
    if (k < cand.length && !RUN_BREAK.has(cand[k]!)) continue;
    const run = cand.slice(start, k);
    start = k + 1;
    if (!run || run[0] === '/' || run[0] === '~') continue;
    const segs = run.split('/').filter((x) => x !== '' && x !== '.');
    if (segs.includes('..')) return `${q(w)} is a relative path with ".." and the working directory is unknown`;
    const t = tailIn(segs, c);
    if (t) return `${q(w)} is a relative path containing ${t.show}: with the working directory unknown it may be a credential path`;
  }
  return undefined;
}

/** Why one argv word names a credential path, or undefined. */
function credentialIn(w: string, c: Ctx): string | undefined {
  const strip = (x: string): string => x.replace(/^[@<]+/, '');
  const whole = new Set<string>([w, strip(w)]);
  const eq = w.indexOf('=');
  if (eq >= 0) whole.add(strip(w.slice(eq + 1)));
  if (w.length > 2 && /^-[A-Za-z0-9]/.test(w)) whole.add(strip(w.slice(2)));
  const file = /^file:(?:\/\/[^/]*)?(\/.*)$/is.exec(w);
  if (file) whole.add(file[1]!);
  for (const cand of whole) {
    const m = cand.startsWith('/') ? absHit(cand, w, c)
      : cand.startsWith('~') || cand.startsWith('$HOME') || cand.startsWith('${HOME}') ? homeHit(cand, w, c)
      : cand && !cand.startsWith('-') ? relHit(cand, w, c) : undefined;
    if (m) return m;
  }
  // paths embedded further in: "-d@/p", "if=/p", "OPEN:/p", "cat /p" in a script; non-overlapping, so linear
  for (let k = 0; k < w.length; ) {
    const ch = w[k]!;
    const home = ch === '$' && (w.startsWith('HOME', k + 1) || w.startsWith('{HOME}', k + 1));
    if ((ch !== '/' && ch !== '~' && !home) || !isPathStart(w, k)) {
      k++;
      continue;
    }
    let end = home ? k + (w[k + 1] === '{' ? 7 : 5) : k + 1;
    while (end < w.length && !PATH_END.has(w[end]!)) end++;
    const cand = w.slice(k, end);
    const m = ch === '/' ? absHit(cand, w, c) : homeHit(cand, w, c);
    if (m) return m;
    k = Math.max(end, k + 1);
  }
  return undefined;
}

/** Resolves an operand to absolute segments when it is absolute or the working directory is known. */
function resolve(v: string, c: Ctx): string[] | undefined {
  if (v.startsWith('/')) return absSegments(v);
  if (c.wd !== undefined && !v.startsWith('-')) return absSegments(`${c.wd}/${v}`);
  return undefined;
}

// ---------------------------------------------------------------------------------------------- hosts

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const LOOPBACK = new RegExp(`^127\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** localhost, 127.0.0.0/8 in plain dotted decimal, ::1 or 0.0.0.0; every other spelling counts as elsewhere. */
function isLocalHost(h: string): boolean {
  let l = h.toLowerCase();
  if (l.startsWith('[') && l.endsWith(']')) l = l.slice(1, -1);
  return l === 'localhost' || l === '::1' || l === '0.0.0.0' || LOOPBACK.test(l);
}

function hostOf(hp: string): string {
  if (hp.startsWith('[')) {
    const e = hp.indexOf(']');
    if (e < 0) return hp;
    const rest = hp.slice(e + 1);
    return rest === '' || /^:\d*$/.test(rest) ? hp.slice(1, e) : hp;
  }
  const i = hp.indexOf(':');
  return i >= 0 && /^\d*$/.test(hp.slice(i + 1)) ? hp.slice(0, i) : hp;
}

/**
 * Every host a URL-ish word could reach (scheme://user@host:port/..., host:port, bare host). Where parsers
 * disagree (first or last '@', whether '\' ends the authority) all readings are returned, and the caller
 * treats the word as local only when every reading is local. file: URLs reach no host.
 */
function urlHosts(u: string): string[] {
  let auth = u;
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(u);
  if (m) {
    const after = u.slice(m[0].length);
    const hostPort = !after.startsWith('/') && /^\d*(?:[/?#]|$)/.test(after);
    if (!hostPort) {
      if (m[1]!.toLowerCase() === 'file') return [];
      auth = after.replace(/^[/\\]*/, '');
    }
  }
  const cut = (t: string, re: RegExp): string => {
    const i = t.search(re);
    return i < 0 ? t : t.slice(0, i);
  };
  const hosts = new Set<string>();
  for (const a of new Set([cut(auth, /[/?#\\]/), cut(auth, /[/?#]/)])) {
    hosts.add(hostOf(a.slice(a.indexOf('@') + 1)));
    hosts.add(hostOf(a.slice(a.lastIndexOf('@') + 1)));
  }
  return [...hosts];
}

/** scp/rsync/git "[user@]host:path" (a ':' before any '/'); undefined for a local path. */
function remoteHost(w: string): string | undefined {
  if (w.startsWith('/') || w.startsWith('./') || w.startsWith('../')) return undefined;
  let depth = 0;
  for (let k = 0; k < w.length; k++) {
    const ch = w[k]!;
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    else if (ch === '/' && depth <= 0) return undefined;
    else if (ch === ':' && depth <= 0) {
      const h = w.slice(0, k);
      return h.slice(h.lastIndexOf('@') + 1);
    }
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------ analysis

interface Scan {
  ctx: Ctx;
  out: Hazard[];
  seen: Set<string>;
  budget: number;
  /** argv indices holding program words: a bare name there is looked up on PATH, not in the working directory. */
  programs: Set<number>;
}
/**
 * One (possibly inner) command: its canonical name, arguments and where they sit in the original argv.
 * `pin`: the command was split out of one argv word (socat EXEC:..., env -S), so every hazard points at it.
 */
interface Cmd { name: string; program: string; args: readonly string[]; base: number; at: number; depth: number; pin?: number }
type Handler = (c: Cmd, s: Scan) => void;

function add(s: Scan, cls: HazardClass, message: string, arg?: number): void {
  const key = arg === undefined ? `${cls}:${message}` : `${cls}@${arg}`;
  if (s.seen.has(key)) return;
  s.seen.add(key);
  s.out.push(arg === undefined ? { class: cls, message } : { class: cls, message, arg });
}

const argAt = (c: Cmd, j: number): number => c.pin ?? (j >= 0 && j < c.args.length ? c.base + j : c.at);

/** Lower-case name without .exe or a version suffix when that names a known program (python3.11 → python). */
function canonical(program: string): string {
  let n = program.toLowerCase();
  if (n.endsWith('.exe')) n = n.slice(0, -4);
  if (n.length > 64 || HANDLERS.has(n) || WRAPPERS.has(n)) return n;
  if (n.startsWith('mkfs')) return 'mkfs';
  const m = /^([a-z][a-z0-9+_-]*?)[-_]?\d[\d.]*[a-z]?$/.exec(n);
  return m && HANDLERS.has(m[1]!) ? m[1]! : n;
}

const isKnown = (p: string): boolean => {
  const n = canonical(basename(p));
  return HANDLERS.has(n) || WRAPPERS.has(n);
};

const CODE_ENV = wordSet('LD_PRELOAD LD_AUDIT LD_LIBRARY_PATH BASH_ENV ENV PERL5OPT PERL5LIB NODE_OPTIONS RUBYOPT RUBYLIB PYTHONPATH PYTHONHOME GIT_SSH GIT_SSH_COMMAND GIT_EXEC_PATH GIT_EXTERNAL_DIFF');

function analyse(argv: readonly string[], offset: number, s: Scan, depth: number, pin?: number): void {
  const { eff, at, wrapperAt, assignAt, blocked } = peel(argv);
  const idx = (k: number): number => pin ?? offset + k;
  if (pin === undefined) for (const k of [...wrapperAt, at]) if (k < argv.length) s.programs.add(offset + k);
  for (const k of Object.keys(eff.env)) {
    const i = idx(assignAt.get(k) ?? at);
    if (CODE_ENV.has(k)) add(s, 'commandRunner', `${k} is set, so ${q(eff.program)} may load other code`, i);
    else if (/proxy$/i.test(k) && k.toLowerCase() !== 'no_proxy') add(s, 'networkElsewhere', `${k} is set, re-pointing the connections of ${q(eff.program)}`, i);
  }
  if (blocked) {
    add(s, blocked.cls, `${basename(argv[at]!)}: ${blocked.reason}`, idx(at));
    guessInner(argv, at + 1, offset, s, depth, pin);
    return;
  }
  if (at >= argv.length) return;
  const name = canonical(eff.program);
  const cmd: Cmd = { name, program: eff.program, args: eff.args, base: offset + at + 1, at: idx(at), depth, ...(pin === undefined ? {} : { pin }) };
  HANDLERS.get(name)?.(cmd, s);
}

function inner(s: Scan, argv: readonly string[], offset: number, depth: number, pin?: number): void {
  if (!argv.length || depth >= MAX_DEPTH || s.budget <= 0) return;
  s.budget--;
  analyse(argv, offset, s, depth + 1, pin);
}

/** A command written as one word ("sh -c id"), split on blanks; its hazards all point at that word. */
const splitWords = (w: string): string[] => w.split(/[ \t\n]+/).filter(Boolean);

/**
 * For runners whose syntax is not modelled: analyse what follows the first few words naming known programs,
 * and single words that hold a whole command line.
 */
function guessInner(argv: readonly string[], from: number, offset: number, s: Scan, depth: number, pin?: number): void {
  for (let j = from, found = 0; j < argv.length && found < 3; j++) {
    const w = argv[j]!;
    if (w.startsWith('-')) continue;
    if (isKnown(w)) inner(s, argv.slice(j), offset + j, depth, pin);
    else if (/[ \t\n]/.test(w) && isKnown(splitWords(w)[0] ?? '')) inner(s, splitWords(w), 0, depth, pin ?? offset + j);
    else continue;
    found++;
  }
}

const innerOf = (c: Cmd, s: Scan, from: number, to = c.args.length): void => inner(s, c.args.slice(from, to), c.base + from, c.depth, c.pin);
/** An inner command given as one word, split on blanks. */
const innerWord = (c: Cmd, s: Scan, j: number, text: string): void => inner(s, splitWords(text), 0, c.depth, argAt(c, j));

function inlineCode(c: Cmd, s: Scan, j: number, how: string): void {
  const code = c.args[j];
  add(s, 'inlineScript', `${how} runs inline code${code === undefined ? '' : `: ${q(code)}`}`, argAt(c, j));
}

const runs = (c: Cmd, s: Scan, what: string, j?: number): void => add(s, 'commandRunner', `${c.program} ${what}`, j === undefined ? c.at : argAt(c, j));
const destroys = (c: Cmd, s: Scan, what: string, j?: number): void => add(s, 'destructive', `${c.program} ${what}`, j === undefined ? c.at : argAt(c, j));
const startsShell = (c: Cmd, s: Scan, what: string): void => add(s, 'shell', `${c.program} ${what}`, c.at);

/**
 * What an exec argv could do that a policy may refuse. Judged on the argv words (wrappers peeled, inner
 * commands of xargs, find -exec, ... followed); the rules are in docs/exec-commands.md.
 */
export function execHazards(argv: readonly string[], ctx: ExecContext): Hazard[] {
  const words = asWords(argv);
  const s: Scan = { ctx: buildCtx(ctx), out: [], seen: new Set(), budget: MAX_INNER, programs: new Set() };
  if (ctx?.interactive) add(s, 'interactive', 'stdin or a TTY is attached: what is typed into the session is not judged');
  if (!words.length) {
    add(s, 'shell', 'empty command: nothing to judge, so it counts as a shell');
    return s.out;
  }
  analyse(words, 0, s, 0);
  for (let k = 0; k < words.length; k++) {
    const w = words[k]!;
    const m = s.programs.has(k) && !w.includes('/') ? undefined : credentialIn(w, s.ctx);
    if (m) add(s, 'credentialRead', m, k);
  }
  return s.out;
}

// ------------------------------------------------------------------------------ shells and interpreters

const STDIN_SCRIPTS = wordSet('/dev/stdin /dev/fd/0 /proc/self/fd/0');

const shell: Handler = (c, s) => {
  const a = c.args;
  let script = -1;
  let reads = false;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (w === '--' || w === '-') {
      if (j + 1 < a.length) script = j + 1;
      break;
    }
    if (w.startsWith('--')) {
      const nm = w.slice(2).split('=')[0]!.toLowerCase();
      if (nm === 'command' || nm === 'init-command') return inlineCode(c, s, w.includes('=') ? j : j + 1, `${c.program} --${nm}`);
      if (nm === 'interactive') reads = true;
      if ((nm === 'rcfile' || nm === 'init-file') && !w.includes('=')) j++;
      continue;
    }
    if ((w[0] === '-' || w[0] === '+') && w.length > 1) {
      const cl = w.slice(1);
      if (cl.includes('c') || (c.name === 'fish' && cl.includes('C'))) return inlineCode(c, s, j + 1, `${c.program} ${w}`);
      if (cl.includes('i') || cl.includes('s')) reads = true;
      if (/[oO]/.test(cl)) j++;
      continue;
    }
    script = j;
    break;
  }
  if (script < 0 || reads || STDIN_SCRIPTS.has(a[script]!)) startsShell(c, s, `${script < 0 ? 'without a script' : 'here'} reads commands from stdin: an interactive shell`);
};

const powershell: Handler = (c, s) => {
  const a = c.args;
  const prefix = c.name === 'powershell' ? /^(?:--?|\/)/ : /^--?/;
  const is = (nm: string, full: string, min = 1): boolean => nm.length >= min && full.startsWith(nm);
  let reads = false;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    const m = prefix.exec(w);
    if (!m || w.length === m[0].length) {
      // Windows PowerShell runs a bare argument as a command, pwsh as a script file
      if (c.name === 'powershell') return inlineCode(c, s, j, c.program);
      break;
    }
    const nm = w.slice(m[0].length).split(':')[0]!.toLowerCase();
    if (is(nm, 'command') || is(nm, 'commandwithargs', 8) || nm === 'cwa' || nm === 'e' || nm === 'ec' || is(nm, 'encodedcommand', 2)) {
      return inlineCode(c, s, j + 1, `${c.program} ${w}`);
    }
    if (is(nm, 'file')) return;
    if (is(nm, 'noexit', 3) || is(nm, 'interactive')) reads = true;
    if (['ex', 'ep', 'wd', 'w', 'if', 'of'].includes(nm) || ['executionpolicy', 'configurationname', 'custompipename', 'inputformat', 'outputformat', 'settingsfile', 'workingdirectory', 'windowstyle', 'psconsolefile'].some((p) => is(nm, p, 3))) j++;
  }
  if (reads || !a.length) startsShell(c, s, 'starts an interactive PowerShell');
};

const cmdExe: Handler = (c, s) => {
  const j = c.args.findIndex((w) => /^\/[ck]/i.test(w));
  if (j >= 0) inlineCode(c, s, j + 1, `${c.program} ${c.args[j]}`);
  if (j < 0 || /^\/k/i.test(c.args[j]!)) startsShell(c, s, 'starts an interactive command prompt');
};

interface Interp {
  /** Short options whose value is code (-c, -e). */
  inline: string;
  inlineLong?: readonly string[];
  /** Short options taking a value, attached or the next word. */
  value?: string;
  valueLong?: readonly string[];
  /** Short options whose value can only be the rest of the word (perl -Mstrict). */
  attached?: string;
  /** Short options followed by digits only (perl -l0, -0777). */
  digits?: string;
  /** Options that open an interactive session. */
  repl?: string;
  replLong?: readonly string[];
  /** Options after which the interpreter only prints something. */
  info?: string;
  infoLong?: readonly string[];
  /** Options whose value names what runs instead of a script (python -m, php -f). */
  runs?: string;
  inplace?: string;
  /** Without a script it reads code from stdin or starts a REPL. */
  bare: boolean;
  after?: (c: Cmd, s: Scan, runsAt: number) => void;
}

function interpreter(cfg: Interp): Handler {
  return (c, s) => {
    const a = c.args;
    let script = -1;
    let reads = false;
    let runsAt = -1;
    let inplace = -1;
    let code: { j: number; how: string } | undefined;
    scan: for (let j = 0; j < a.length; j++) {
      const w = a[j]!;
      if (w === '-') {
        reads = true;
        break;
      }
      if (w === '--') {
        if (j + 1 < a.length) script = j + 1;
        break;
      }
      if (w.startsWith('--')) {
        const eq = w.indexOf('=');
        const nm = eq < 0 ? w.slice(2) : w.slice(2, eq);
        if (cfg.inlineLong?.includes(nm)) {
          code = { j: eq < 0 ? j + 1 : j, how: `${c.program} --${nm}` };
          break;
        }
        if (cfg.infoLong?.includes(nm)) return;
        if (cfg.replLong?.includes(nm)) reads = true;
        if (cfg.valueLong?.includes(nm) && eq < 0) j++;
        continue;
      }
      if (w.length > 1 && w[0] === '-') {
        for (let k = 1; k < w.length; k++) {
          const ch = w[k]!;
          const attached = k + 1 < w.length;
          if (cfg.inline.includes(ch)) {
            code = { j: attached ? j : j + 1, how: `${c.program} -${ch}` };
            break scan;
          }
          if (cfg.info?.includes(ch)) return;
          if (cfg.inplace?.includes(ch)) inplace = j;
          if (cfg.repl?.includes(ch)) reads = true;
          if (cfg.runs?.includes(ch)) {
            runsAt = attached ? j : j + 1;
            break scan;
          }
          if (cfg.digits?.includes(ch)) {
            const hex = ch === '0' && w[k + 1] === 'x';
            if (hex) k++;
            while (k + 1 < w.length && (hex ? /[0-9a-f]/i : /[0-9]/).test(w[k + 1]!)) k++;
            continue;
          }
          if (cfg.attached?.includes(ch)) break;
          if (cfg.value?.includes(ch)) {
            if (!attached) j++;
            break;
          }
        }
        continue;
      }
      script = j;
      break;
    }
    if (inplace >= 0) destroys(c, s, 'edits files in place', inplace);
    if (code) return inlineCode(c, s, code.j, code.how);
    cfg.after?.(c, s, runsAt);
    if (reads || (cfg.bare && script < 0 && runsAt < 0)) startsShell(c, s, `${script < 0 && runsAt < 0 ? 'without a script' : 'here'} reads code from stdin or starts a REPL`);
  };
}

const PACKAGE_VERBS = wordSet('install uninstall reinstall upgrade inject add remove sync');

const python = interpreter({
  inline: 'c', runs: 'm', value: 'WXQ', repl: 'i', valueLong: ['check-hash-based-pycs'], infoLong: ['version', 'help'], info: 'Vh', bare: true,
  after: (c, s, at) => {
    const mod = c.args[at];
    if (mod === 'pip' || mod === 'pip3' || mod === 'ensurepip') {
      const v = c.args.slice(at + 1).findIndex((w) => PACKAGE_VERBS.has(w));
      if (v >= 0 || mod === 'ensurepip') destroys(c, s, `-m ${mod} installs or removes packages`, v >= 0 ? at + 1 + v : at);
    }
  },
});
const perl = interpreter({ inline: 'eE', value: 'I', attached: 'MmiFxdDCV', digits: 'l0', inplace: 'i', info: 'vh', infoLong: ['version', 'help'], bare: true });
const ruby = interpreter({
  inline: 'e', value: 'IrCE', attached: 'FixKTW', digits: '0', inplace: 'i', info: 'h', infoLong: ['version', 'help'],
  valueLong: ['encoding', 'external-encoding', 'internal-encoding', 'enable', 'disable', 'dump'], bare: true,
});
const node = interpreter({
  inline: 'ep', inlineLong: ['eval', 'print'], value: 'rC', repl: 'i', replLong: ['interactive'], info: 'vhc', infoLong: ['version', 'help', 'check', 'v8-options'],
  valueLong: ['require', 'import', 'loader', 'experimental-loader', 'conditions', 'input-type', 'title', 'env-file', 'inspect-port', 'redirect-warnings', 'disable-warning'], bare: true,
});
const php = interpreter({ inline: 'rBRE', value: 'cdzFSt', runs: 'f', repl: 'a', info: 'vhim', bare: true });
const lua = interpreter({ inline: 'e', value: 'lb', repl: 'i', bare: true });
const julia = interpreter({ inline: 'eE', inlineLong: ['eval', 'print'], value: 'LJCpt', repl: 'i', info: 'vh', infoLong: ['version', 'help'], bare: true });
const rLang = interpreter({ inline: 'e', runs: 'f', infoLong: ['version', 'help'], bare: true });
const eFlag = interpreter({ inline: 'e', inlineLong: ['eval'], bare: false });

const deno: Handler = (c, s) => {
  const [sub, ...rest] = c.args;
  if (sub === 'eval') return inlineCode(c, s, 1, 'deno eval');
  if (sub === undefined || sub === 'repl' || (sub === 'run' && rest.includes('-'))) return startsShell(c, s, 'reads code from stdin or starts a REPL');
  if (sub === 'install' || sub === 'add' || sub === 'remove' || sub === 'uninstall') destroys(c, s, `${sub} changes installed packages`, 0);
  if (sub === 'run' || sub === 'x') for (const [k, w] of rest.entries()) if (/^https?:\/\//i.test(w)) url(c, s, k + 1, w);
};

const BUN_VERBS = wordSet('add install i remove rm update link');
const bun: Handler = (c, s) => {
  const j = c.args.findIndex((w) => /^(?:-e|-p|--eval|--print)(?:=|$)/.test(w));
  if (j >= 0) return inlineCode(c, s, c.args[j]!.includes('=') ? j : j + 1, `bun ${c.args[j]!.split('=')[0]}`);
  const sub = c.args[0];
  if (sub === 'repl') startsShell(c, s, 'repl starts a REPL');
  if (sub === 'x') runs(c, s, 'x downloads and runs a package', 0);
  if (sub !== undefined && BUN_VERBS.has(sub)) destroys(c, s, `${sub} changes installed packages`, 0);
};

const erl: Handler = (c, s) => {
  const j = c.args.indexOf('-eval');
  if (j >= 0) return inlineCode(c, s, j + 1, 'erl -eval');
  if (!c.args.includes('-noshell') && !c.args.includes('-detached')) startsShell(c, s, 'starts an Erlang shell');
};

const always = (cls: HazardClass, what: string): Handler => (c, s) => add(s, cls, `${c.program} ${what}`, c.at);

const vim: Handler = (c, s) => {
  for (const [j, w] of c.args.entries()) {
    if (w === '-c' || w === '--cmd' || w === '-S') return inlineCode(c, s, j + 1, `${c.program} ${w}`);
    if (w.startsWith('+') && !/^\+\d*$/.test(w) && !w.startsWith('+/')) return inlineCode(c, s, j, c.program);
  }
};

const emacs: Handler = (c, s) => {
  const j = c.args.findIndex((w) => /^--?(?:eval|execute|load|l|funcall|f|script|x)(?:=|$)/.test(w));
  if (j >= 0) inlineCode(c, s, c.args[j]!.includes('=') ? j : j + 1, `${c.program} ${c.args[j]!.split('=')[0]}`);
};

/** Whether a sed script runs commands or reads/writes files (e, r, R, w, W; s///e and s///w); linear. */
function sedDangerous(src: string): boolean {
  const n = src.length;
  let i = 0;
  const skip = (re: RegExp): void => {
    while (i < n && re.test(src[i]!)) i++;
  };
  const untilEol = (alsoSemicolon: boolean): void => {
    while (i < n && src[i] !== '\n' && !(alsoSemicolon && (src[i] === ';' || src[i] === '}'))) i++;
  };
  /** Skips a delimited part (regex, replacement); false when unterminated. */
  const part = (delim: string): boolean => {
    for (; i < n; i++) {
      if (src[i] === '\\') i++;
      else if (src[i] === delim) {
        i++;
        return true;
      }
    }
    return false;
  };
  const address = (): boolean => {
    if (/\d/.test(src[i] ?? '')) {
      skip(/\d/);
      if (src[i] === '~') {
        i++;
        skip(/\d/);
      }
    } else if (src[i] === '$') i++;
    else if (src[i] === '/' || src[i] === '\\') {
      const delim = src[i] === '\\' ? src[++i] : '/';
      i++;
      if (delim === undefined || !part(delim)) return false;
      skip(/[IM]/);
    }
    return true;
  };
  while (i < n) {
    skip(/[\s;]/);
    if (i >= n) break;
    if (src[i] === '#') {
      untilEol(false);
      continue;
    }
    if (!address()) return true;
    skip(/[ \t]/);
    if (src[i] === ',') {
      i++;
      skip(/[ \t]/);
      if (src[i] === '+' || src[i] === '~') {
        i++;
        skip(/\d/);
      } else if (!address()) return true;
    }
    skip(/[ \t!]/);
    const cmd = src[i++];
    if (cmd === undefined) break;
    if ('{}=dDgGhHnNpPxzF'.includes(cmd)) continue;
    if ('qQlL'.includes(cmd)) {
      skip(/[ \t\d]/);
      continue;
    }
    if (cmd === ':' || cmd === 'b' || cmd === 't' || cmd === 'T' || cmd === 'v') {
      untilEol(true);
      continue;
    }
    if (cmd === 'a' || cmd === 'i' || cmd === 'c') {
      // text runs to the end of the line, continued by a trailing backslash
      while (i < n && src[i] !== '\n') i += src[i] === '\\' ? 2 : 1;
      continue;
    }
    if (cmd === 's' || cmd === 'y') {
      const delim = src[i++];
      if (delim === undefined || delim === '\n' || delim === '\\' || !part(delim) || !part(delim)) return true;
      if (cmd === 'y') continue;
      for (; i < n; i++) {
        const f = src[i]!;
        if (f === 'e' || f === 'w') return true;
        if (!/[gpiImM\d]/.test(f)) break;
      }
      continue;
    }
    // e, r, R, w, W, and anything not understood
    return true;
  }
  return false;
}

const sed: Handler = (c, s) => {
  const a = c.args;
  const scripts: { at: number; text: string }[] = [];
  const operands: number[] = [];
  let fromFile = -1;
  let sandbox = false;
  let inplace = -1;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (w === '--') {
      for (let k = j + 1; k < a.length; k++) operands.push(k);
      break;
    }
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const nm = eq < 0 ? w.slice(2) : w.slice(2, eq);
      const is = (full: string): boolean => nm.length >= 2 && full.startsWith(nm);
      const value = (): { at: number; text: string } => (eq >= 0 ? { at: j, text: w.slice(eq + 1) } : { at: ++j, text: a[j] ?? '' });
      if (is('expression')) scripts.push(value());
      else if (is('file')) fromFile = value().at;
      else if (is('in-place')) inplace = j;
      else if (is('sandbox')) sandbox = true;
      else if (is('line-length') && eq < 0) j++;
      continue;
    }
    if (w.length > 1 && w[0] === '-') {
      for (let k = 1; k < w.length; k++) {
        const ch = w[k]!;
        if (ch === 'i') {
          // the rest of the word is a backup suffix
          inplace = j;
          break;
        }
        if (ch !== 'e' && ch !== 'f' && ch !== 'l') continue;
        const attached = k + 1 < w.length;
        const v = attached ? { at: j, text: w.slice(k + 1) } : { at: ++j, text: a[j] ?? '' };
        if (ch === 'e') scripts.push(v);
        if (ch === 'f') fromFile = v.at;
        break;
      }
      continue;
    }
    operands.push(j);
  }
  if (!scripts.length && fromFile < 0 && operands.length) scripts.push({ at: operands[0]!, text: a[operands[0]!]! });
  if (inplace >= 0) destroys(c, s, 'edits files in place', inplace);
  if (sandbox) return;
  if (fromFile >= 0) return add(s, 'inlineScript', `${c.program} -f runs a script file, which can run commands: ${q(a[fromFile] ?? '')}`, argAt(c, fromFile));
  for (const { at, text } of scripts) {
    if (sedDangerous(text)) add(s, 'inlineScript', `${c.program} script ${q(text)} runs commands or reads or writes files (e, r, w)`, argAt(c, at));
  }
};

// ---------------------------------------------------------------------------------- command runners

const XARGS = optTable('0,null a,arg-file: E: e,eof:: I: i,replace:: L: l,max-lines:: n,max-args: P,max-procs: p,interactive r,no-run-if-empty s,max-chars: t,verbose x,exit d,delimiter: o,open-tty show-limits process-slot-var: help version');
const xargs: Handler = (c, s) => {
  const r = parseOpts(c.args, 0, XARGS);
  if (!r.ok) {
    runs(c, s, 'runs a command with arguments read from stdin');
    return guessInner(c.args, 0, c.base, s, c.depth, c.pin);
  }
  runs(c, s, `runs ${q(c.args[r.next] ?? 'echo')} with arguments read from stdin`);
  innerOf(c, s, r.next);
};

const find: Handler = (c, s) => {
  const a = c.args;
  let exec = false;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (w === '-exec' || w === '-execdir' || w === '-ok' || w === '-okdir') {
      let end = j + 1;
      while (end < a.length && !(a[end] === ';' || (a[end] === '+' && a[end - 1] === '{}'))) end++;
      runs(c, s, `${w} runs ${q(a[j + 1] ?? '')} on what it finds`, j);
      innerOf(c, s, j + 1, end);
      exec = true;
      j = end;
    } else if (w === '-delete') destroys(c, s, '-delete removes what it finds', j);
    else if (w === '-fprint' || w === '-fprint0' || w === '-fprintf' || w === '-fls') destroys(c, s, `${w} writes a file`, j);
  }
  // the paths it starts from, read by the command -exec runs
  if (exec) {
    let from = 0;
    while (from < a.length && /^-(?:[HLP]|D|O\d*)$/.test(a[from]!)) from += a[from] === '-D' ? 2 : 1;
    let to = from;
    while (to < a.length && !(a[to]!.startsWith('-') || a[to] === '(' || a[to] === '!' || a[to] === ',')) to++;
    readsRecursively(c, s, from, to);
  }
};

const WATCH = optTable('n,interval: d,differences:: g,chgexit e,errexit b,beep c,color C,no-color t,no-title w,no-wrap x,exec p,precise q,equexit: r,no-rerun s,shotsdir: h,help v,version');
const watch: Handler = (c, s) => {
  const r = parseOpts(c.args, 0, WATCH);
  if (!r.ok) {
    runs(c, s, 'runs a command repeatedly');
    return guessInner(c.args, 0, c.base, s, c.depth, c.pin);
  }
  if (r.next >= c.args.length) return;
  runs(c, s, `runs ${q(c.args[r.next]!)} repeatedly`, r.next);
  if (!r.found.some((o) => o.name === 'exec')) add(s, 'inlineScript', `${c.program} passes its command to sh -c: ${q(c.args.slice(r.next).join(' '))}`, argAt(c, r.next));
  innerOf(c, s, r.next);
};

/** nsenter, unshare, chroot: run a command (by default a shell) somewhere else. */
function elsewhere(t: OptTable, operands: number): Handler {
  return (c, s) => {
    runs(c, s, operands ? 'runs a command under another root' : 'runs a command in other namespaces');
    const r = parseOpts(c.args, 0, t);
    if (!r.ok) return guessInner(c.args, 0, c.base, s, c.depth, c.pin);
    if (r.found.some((o) => o.name === 'help' || o.name === 'version')) return;
    const at = r.next + operands;
    if (at >= c.args.length) startsShell(c, s, 'without a command starts a shell');
    else innerOf(c, s, at);
  };
}
const nsenter = elsewhere(optTable('a,all t,target: m,mount:: u,uts:: i,ipc:: n,net:: p,pid:: C,cgroup:: U,user:: T,time:: user-parent S,setuid: G,setgid: preserve-credentials keep-caps r,root:: w,wd:: W,wdns: e,env F,no-fork Z,follow-context c,join-cgroup h,help V,version'), 0);
const unshare = elsewhere(optTable('m,mount:: u,uts:: i,ipc:: n,net:: p,pid:: U,user:: C,cgroup:: T,time:: f,fork kill-child:: mount-proc:: mount-binfmt:: map-user: map-group: map-users: map-groups: map-auto r,map-root-user c,map-current-user propagation: setgroups: keep-caps S,setuid: G,setgid: R,root: w,wd: monotonic: boottime: l,load-interp: h,help V,version'), 0);
const chroot = elsewhere(optTable('userspec: groups: skip-chdir help version'), 1);

const SCRIPT = optTable('a,append c,command: e,return f,flush E,echo: I,log-in: O,log-out: B,log-io: T,log-timing: m,logging-format: o,output-limit: q,quiet t,timing:: h,help V,version');
const script: Handler = (c, s) => {
  runs(c, s, 'runs a shell session');
  const r = parseOpts(c.args, 0, SCRIPT);
  const cmd = r.ok ? r.found.find((o) => o.name === 'command') : undefined;
  if (cmd) add(s, 'inlineScript', `${c.program} -c runs shell code: ${q(cmd.value ?? '')}`, c.at);
  else if (r.ok) startsShell(c, s, 'without -c starts a shell');
};

const su: Handler = (c, s) => {
  runs(c, s, 'runs a shell as another user');
  const a = c.args;
  let user = false;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (w === '--') return user ? innerOf(c, s, j + 1) : inlineCode(c, s, j + 1, `${c.program} -- (arguments to the shell)`);
    if (/^--(?:command|session-command)(?:=|$)/.test(w)) return inlineCode(c, s, w.includes('=') ? j : j + 1, `${c.program} ${w.split('=')[0]}`);
    if (/^--(?:shell|group|supp-group|whitelist-environment)$/.test(w)) j++;
    else if (w === '--user' || w.startsWith('--user=')) {
      user = true;
      if (!w.includes('=')) j++;
    } else if (/^-[^-]/.test(w)) {
      for (let k = 1; k < w.length; k++) {
        const ch = w[k]!;
        if (ch === 'c') return inlineCode(c, s, k + 1 < w.length ? j : j + 1, `${c.program} -c`);
        if ('gGswu'.includes(ch)) {
          if (ch === 'u') user = true;
          if (k + 1 === w.length) j++;
          break;
        }
      }
    } else if (user && c.name === 'runuser' && w !== '-') return innerOf(c, s, j);
  }
  startsShell(c, s, 'without -c starts a login shell');
};

const FLOCK = optTable('s,shared x,exclusive e u,unlock n,nb,nonblock o,close E,conflict-exit-code: w,wait,timeout: F,no-fork verbose c,command: h,help V,version');
const flock: Handler = (c, s) => {
  const r = parseOpts(c.args, 0, FLOCK);
  if (!r.ok) {
    runs(c, s, 'runs a command holding a lock');
    return guessInner(c.args, 0, c.base, s, c.depth, c.pin);
  }
  const cmd = r.found.find((o) => o.name === 'command');
  const after = r.next + 1;
  const w = c.args[after];
  if (cmd || w === '-c' || w === '--command') {
    runs(c, s, 'runs a command holding a lock');
    add(s, 'inlineScript', `${c.program} -c runs shell code: ${q(cmd?.value ?? c.args[after + 1] ?? '')}`, cmd ? c.at : argAt(c, after + 1));
    return;
  }
  if (w === undefined) return;
  runs(c, s, `runs ${q(w)} holding a lock`, after);
  innerOf(c, s, after);
};

const SSHPASS = optTable('f: d: p: P: e v h V');
const sshpass: Handler = (c, s) => {
  runs(c, s, 'runs a command, typing a password into it');
  const r = parseOpts(c.args, 0, SSHPASS);
  if (r.ok) innerOf(c, s, r.next);
  else guessInner(c.args, 0, c.base, s, c.depth, c.pin);
};

const capsh: Handler = (c, s) => {
  runs(c, s, 'runs a shell with changed capabilities');
  const i = c.args.indexOf('--');
  // everything after "--" goes to /bin/bash
  if (i >= 0) inner(s, ['bash', ...c.args.slice(i + 1)], c.base + i, c.depth, c.pin);
};

const runner = (what: string, alsoShell = false): Handler => (c, s) => {
  runs(c, s, what);
  if (alsoShell) startsShell(c, s, 'starts shells');
  guessInner(c.args, 0, c.base, s, c.depth, c.pin);
};

// -------------------------------------------------------------------------------------------- network

function flagHost(c: Cmd, s: Scan, j: number, host: string, w: string): void {
  if (!isLocalHost(host)) add(s, 'networkElsewhere', `${c.program} connects to ${q(host)}${host === w ? '' : ` (${q(w)})`}`, argAt(c, j));
}

function url(c: Cmd, s: Scan, j: number, w: string): void {
  if (w === '') return;
  const bad = urlHosts(w).find((h) => !isLocalHost(h));
  if (bad !== undefined) flagHost(c, s, j, bad, w);
}

/**
 * Walks the arguments of a tool parsed like curl and wget: operands (everything after `--` too) go to
 * onOperand; options that take a value (`--name=v`, `--name v`, `-Xv`, `-X v`, after bundled flags) go to
 * onValue by their long name. Options not in the tables take no value and are skipped.
 */
function valueOptions(
  a: readonly string[],
  t: { long: ReadonlySet<string>; short: Readonly<Record<string, string>>; foldCase?: boolean },
  onOperand: (j: number, w: string) => void,
  onValue: (name: string, v: string | undefined, j: number) => void,
): void {
  let operands = false;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (w === '-') continue;
    if (operands || !w.startsWith('-')) onOperand(j, w);
    else if (w === '--') operands = true;
    else if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const raw = eq < 0 ? w.slice(2) : w.slice(2, eq);
      const nm = t.foldCase ? raw.toLowerCase() : raw;
      if (!t.long.has(nm)) continue;
      if (eq >= 0) onValue(nm, w.slice(eq + 1), j);
      else onValue(nm, a[++j], j);
    } else {
      for (let k = 1; k < w.length; k++) {
        const nm = t.short[w[k]!];
        if (nm === undefined) continue;
        if (k + 1 < w.length) onValue(nm, w.slice(k + 1), j);
        else onValue(nm, a[++j], j);
        break;
      }
    }
  }
}

const repoints = (c: Cmd, s: Scan, j: number, how: string): void => add(s, 'networkElsewhere', `${c.program} ${how}`, argAt(c, j));

const CURL_SHORT: Readonly<Record<string, string>> = {
  E: 'cert', K: 'config', C: 'continue-at', b: 'cookie', c: 'cookie-jar', d: 'data', D: 'dump-header', F: 'form', P: 'ftp-port', H: 'header',
  m: 'max-time', o: 'output', x: 'proxy', U: 'proxy-user', Q: 'quote', r: 'range', e: 'referer', X: 'request', Y: 'speed-limit', y: 'speed-time',
  t: 'telnet-option', z: 'time-cond', T: 'upload-file', u: 'user', A: 'user-agent', w: 'write-out',
};
/** curl's long options that take a value (ARG_STRG and ARG_FILE in tool_getparam.c). */
const CURL_LONG = wordSet([
  'abstract-unix-socket alt-svc aws-sigv4 cacert capath cert cert-type ciphers config connect-timeout connect-to continue-at cookie cookie-jar',
  'create-file-mode crlfile curves data data-ascii data-binary data-raw data-urlencode delegation dns-interface dns-ipv4-addr dns-ipv6-addr',
  'dns-servers doh-url dump-header ech egd-file engine etag-compare etag-save expect100-timeout form form-string ftp-account',
  'ftp-alternative-to-user ftp-method ftp-port ftp-ssl-ccc-mode happy-eyeballs-timeout-ms haproxy-clientip header hostpubmd5 hostpubsha256',
  'hsts interface ip-tos ipfs-gateway json keepalive-cnt keepalive-time key key-type knownhosts krb krb4 libcurl limit-rate local-port',
  'login-options mail-auth mail-from mail-rcpt max-filesize max-redirs max-time netrc-file noproxy oauth2-bearer output output-dir',
  'parallel-max pass pinnedpubkey preproxy proto proto-default proto-redir proxy proxy-cacert proxy-capath proxy-cert proxy-cert-type',
  'proxy-ciphers proxy-crlfile proxy-header proxy-key proxy-key-type proxy-pass proxy-pinnedpubkey proxy-service-name proxy-tls13-ciphers',
  'proxy-tlsauthtype proxy-tlspassword proxy-tlsuser proxy-user proxy1.0 pubkey quote random-file range rate referer request',
  'request-target resolve retry retry-delay retry-max-time sasl-authzid service-name sigalgs socks4 socks4a socks5 socks5-gssapi-service',
  'socks5-hostname speed-limit speed-time ssl-sessions stderr telnet-option tftp-blksize time-cond tls-max tls13-ciphers tlsauthtype',
  'tlspassword tlsuser trace trace-ascii trace-config unix-socket upload-file url url-query user user-agent variable vlan-priority write-out',
].join(' '));
/** Options that send curl somewhere other than its URL's host (or read options that might). */
const CURL_REPOINT = wordSet('resolve connect-to proxy preproxy socks4 socks4a socks5 socks5-hostname proxy1.0 doh-url dns-servers alt-svc ipfs-gateway config');

const curl: Handler = (c, s) => {
  const a = c.args;
  const value = (nm: string, v: string | undefined, j: number): void => {
    if (v === undefined) return;
    if (nm === 'url') url(c, s, j, v);
    else if (CURL_REPOINT.has(nm)) repoints(c, s, j, nm === 'config' ? `--config ${q(v)} reads options, and URLs, from a file` : `--${nm} ${q(v)} redirects its connections`);
  };
  valueOptions(a, { long: CURL_LONG, short: CURL_SHORT, foldCase: true }, (j, w) => url(c, s, j, w), value);
};

const WGET_SHORT: Readonly<Record<string, string>> = {
  o: 'output-file', a: 'append-output', e: 'execute', i: 'input-file', B: 'base', t: 'tries', O: 'output-document', T: 'timeout', w: 'wait',
  Q: 'quota', P: 'directory-prefix', l: 'level', A: 'accept', R: 'reject', D: 'domains', X: 'exclude-directories', I: 'include-directories', U: 'user-agent', n: 'no',
};
const WGET_LONG = wordSet([
  'output-file append-output execute config input-file base bind-address bind-dns-address tries output-document timeout dns-timeout',
  'connect-timeout read-timeout wait waitretry quota limit-rate directory-prefix cut-dirs http-user http-password user password header',
  'max-redirect proxy-user proxy-password referer save-cookies load-cookies post-data post-file method body-data body-file user-agent level',
  'accept reject domains exclude-domains include-directories exclude-directories ca-certificate ca-directory certificate certificate-type',
  'private-key private-key-type secure-protocol ciphers restrict-file-names default-page progress local-encoding remote-encoding',
  'accept-regex reject-regex regex-type use-askpass hsts-file warc-file warc-header warc-max-size warc-dedup warc-tempdir report-speed',
  'prefer-family ftp-user ftp-password crl-file pinnedpubkey random-file egd-file rejected-log retry-on-http-error',
].join(' '));
const WGET_REPOINT: Readonly<Record<string, string>> = {
  execute: 'runs a wgetrc command (one can set a proxy)', config: 'reads settings from a file', 'input-file': 'reads URLs from a file', base: 'resolves links against another base',
};

const wget: Handler = (c, s) => {
  const a = c.args;
  const value = (nm: string, v: string | undefined, j: number): void => {
    if (v === undefined) return;
    if (nm === 'use-askpass') runs(c, s, `--use-askpass runs ${q(v)}`, j);
    else if (WGET_REPOINT[nm]) repoints(c, s, j, `--${nm} ${q(v)} ${WGET_REPOINT[nm]}`);
  };
  valueOptions(a, { long: WGET_LONG, short: WGET_SHORT }, (j, w) => url(c, s, j, w), value);
};

const NC_VALUE = 'ceGgIiMmOoPpqsTVwXx';
const NCAT_LONG = wordSet('source source-port wait idle-timeout output hex-dump proxy-type proxy-auth proxy-dns allow allowfile deny denyfile max-conns ssl-cert ssl-key ssl-trustfile ssl-ciphers ssl-servername ssl-alpn append-output delay');
const nc: Handler = (c, s) => {
  const a = c.args;
  const pos: number[] = [];
  let listen = false;
  let unix = false;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (w.startsWith('--') && w.length > 2) {
      const eq = w.indexOf('=');
      const nm = eq < 0 ? w.slice(2) : w.slice(2, eq);
      const v = eq >= 0 ? w.slice(eq + 1) : undefined;
      const take = (): string => v ?? a[++j] ?? '';
      if (nm === 'exec' || nm === 'lua-exec') {
        const at = j;
        const prog = take();
        runs(c, s, `--${nm} runs ${q(prog)} on the connection`, at);
        if (nm === 'exec') innerWord(c, s, j, prog);
      } else if (nm === 'sh-exec') {
        const at = j;
        const code = take();
        runs(c, s, '--sh-exec runs a shell on the connection', at);
        add(s, 'inlineScript', `${c.program} --sh-exec runs shell code: ${q(code)}`, argAt(c, j));
      } else if (nm === 'proxy') repoints(c, s, j, `--proxy ${q(take())} redirects its connection`);
      else if (nm === 'listen') listen = true;
      else if (nm === 'unixsock') unix = true;
      else if (NCAT_LONG.has(nm) && v === undefined) j++;
      continue;
    }
    if (w.length > 1 && w[0] === '-') {
      for (let k = 1; k < w.length; k++) {
        const ch = w[k]!;
        if (ch === 'l') listen = true;
        if (ch === 'U') unix = true;
        if (!NC_VALUE.includes(ch)) continue;
        const at = j;
        const v = k + 1 < w.length ? w.slice(k + 1) : (a[++j] ?? '');
        if (ch === 'e') {
          runs(c, s, `-e runs ${q(v)} on the connection`, at);
          innerWord(c, s, j, v);
        } else if (ch === 'c') {
          runs(c, s, '-c runs a shell on the connection', at);
          add(s, 'inlineScript', `${c.program} -c runs shell code: ${q(v)}`, argAt(c, j));
        } else if (ch === 'x') repoints(c, s, j, `-x ${q(v)} goes through a proxy`);
        break;
      }
      continue;
    }
    pos.push(j);
  }
  if (!listen && !unix && pos.length) flagHost(c, s, pos[0]!, hostOf(a[pos[0]!]!), a[pos[0]!]!);
};

const SOCAT_VALUE = wordSet('-b -t -T -L -W -r -R -lf -lp -S -X');
const SOCAT_LOCAL = wordSet('stdio stdin stdout stderr file open create creat gopen pipe fd pty readline tun local named interface system exec shell');

/** socat's address fields, split on ':' outside [...] and ending at the first ','. */
function socatFields(w: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of w) {
    if (ch === ',' && depth <= 0) break;
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ':' && depth <= 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

const socat: Handler = (c, s) => {
  const a = c.args;
  const addrs: number[] = [];
  for (let j = 0; j < a.length && addrs.length < 2; j++) {
    const w = a[j]!;
    if (w.length > 1 && w[0] === '-') {
      if (SOCAT_VALUE.has(w)) j++;
      continue;
    }
    addrs.push(j);
  }
  for (const j of addrs) {
    const w = a[j]!;
    if (w === '-') continue;
    const fields = socatFields(w);
    const type = fields[0]!.toLowerCase();
    if (type === 'exec') {
      runs(c, s, `EXEC runs ${q(fields.slice(1).join(':'))}`, j);
      innerWord(c, s, j, fields.slice(1).join(':'));
    } else if (type === 'system' || type === 'shell') {
      runs(c, s, `${fields[0]} runs a shell command`, j);
      add(s, 'inlineScript', `${c.program} ${fields[0]} runs shell code: ${q(fields.slice(1).join(':'))}`, argAt(c, j));
    } else if (SOCAT_LOCAL.has(type) || /^(?:unix|abstract|posixmq)-/.test(type) || /-(?:listen|l|recv|recvfrom)$/.test(type)) continue;
    else {
      // connecting addresses: TYPE:host:port, SOCKS4:socks-host:host:port, PROXY:proxy:host:port
      const hosts = fields.length >= 3 ? fields.slice(1, -1) : fields.slice(1);
      const bad = hosts.map(hostOf).find((h) => !isLocalHost(h));
      if (bad !== undefined || hosts.length === 0) flagHost(c, s, j, bad ?? type, w);
    }
  }
};

/** Programs whose first operand is the host or URL they connect to. */
function connects(shortValue: string, code = ''): Handler {
  return (c, s) => {
    const a = c.args;
    for (let j = 0; j < a.length; j++) {
      const w = a[j]!;
      if (w === '--') {
        if (j + 1 < a.length) url(c, s, j + 1, a[j + 1]!);
        return;
      }
      if (w.length > 1 && w[0] === '-') {
        if (w.startsWith('--')) continue;
        for (let k = 1; k < w.length; k++) {
          if (!shortValue.includes(w[k]!)) continue;
          if (code.includes(w[k]!)) runs(c, s, `-${w[k]} runs its own commands`, j);
          if (k + 1 === w.length) j++;
          break;
        }
        continue;
      }
      return url(c, s, j, w);
    }
  };
}

function sshConfig(c: Cmd, s: Scan, j: number, v: string): void {
  const m = /^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*)$/s.exec(v);
  if (!m) return;
  const key = m[1]!.toLowerCase();
  const val = m[2]!;
  if (key === 'proxycommand' || key === 'localcommand' || key === 'knownhostscommand') runs(c, s, `-o ${m[1]} runs ${q(val)}`, j);
  else if (key === 'remotecommand') add(s, 'inlineScript', `${c.program} -o RemoteCommand runs shell code: ${q(val)}`, argAt(c, j));
  else if (key === 'proxyjump') for (const h of val.split(',')) sshDest(c, s, j, h);
  else if (key === 'hostname') flagHost(c, s, j, val, v);
  else if (key === 'localforward' || key === 'remoteforward') forward(c, s, j, val.trim().split(/\s+/).pop() ?? '', true);
  else if (key === 'dynamicforward') repoints(c, s, j, '-o DynamicForward opens a SOCKS proxy');
}

function sshDest(c: Cmd, s: Scan, j: number, w: string): void {
  if (/^[a-z]+:\/\//i.test(w)) return url(c, s, j, w);
  let h = w.slice(w.lastIndexOf('@') + 1);
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  flagHost(c, s, j, h, w);
}

/** -L/-R specs: [bind:]port:host:hostport; fewer fields is a dynamic (SOCKS) forward. */
function forward(c: Cmd, s: Scan, j: number, v: string, hostOnly = false): void {
  const parts = socatFields(v.replace(/,/g, ' '));
  if (hostOnly && parts.length >= 2) return flagHost(c, s, j, hostOf(parts.slice(0, -1).join(':')), v);
  if (parts.length >= 3) flagHost(c, s, j, hostOf(parts[parts.length - 2]!), v);
  else if (!v.includes('/')) repoints(c, s, j, `forwards ${q(v)} as a SOCKS proxy`);
}

/** Options of ssh, scp and sftp that point at hosts or programs. */
function sshOption(c: Cmd, s: Scan, ch: string, v: string, j: number): void {
  if (ch === 'J') for (const h of v.split(',')) sshDest(c, s, j, h);
  else if (ch === 'o') sshConfig(c, s, j, v);
  else if (ch === 'F') repoints(c, s, j, `-F ${q(v)} reads host settings from a file`);
  else if (c.name === 'ssh' && ch === 'W') flagHost(c, s, j, hostOf(v), v);
  else if (c.name === 'ssh' && (ch === 'L' || ch === 'R')) forward(c, s, j, v);
  else if (c.name === 'ssh' && ch === 'D') repoints(c, s, j, `-D ${q(v)} opens a SOCKS proxy`);
  else if (c.name !== 'ssh' && (ch === 'S' || (c.name === 'sftp' && ch === 'D'))) runs(c, s, `-${ch} runs ${q(v)}`, j);
}

function sshFamily(valueLetters: string): Handler {
  return (c, s) => {
    const a = c.args;
    let dest = -1;
    let operands = false;
    for (let j = 0; j < a.length; j++) {
      const w = a[j]!;
      if (!operands && w === '--') {
        operands = true;
        continue;
      }
      if (!operands && w.length > 1 && w[0] === '-') {
        for (let k = 1; k < w.length; k++) {
          const ch = w[k]!;
          if (!valueLetters.includes(ch)) continue;
          const v = k + 1 < w.length ? w.slice(k + 1) : (a[++j] ?? '');
          sshOption(c, s, ch, v, j);
          break;
        }
        continue;
      }
      if (c.name === 'ssh') {
        if (dest < 0) {
          dest = j;
          sshDest(c, s, j, w);
          operands = true;
          continue;
        }
        add(s, 'inlineScript', `${c.program} runs a remote command through the login shell: ${q(a.slice(j).join(' '))}`, argAt(c, j));
        return;
      }
      // scp and sftp operands: remote ones carry a host
      if (/^(?:scp|sftp):\/\//i.test(w)) url(c, s, j, w);
      else if (c.name === 'sftp' && dest < 0) {
        dest = j;
        sshDest(c, s, j, remoteHost(w) ?? w);
      } else {
        const h = remoteHost(w);
        if (h !== undefined) sshDest(c, s, j, h);
      }
    }
  };
}
const ssh = sshFamily('BbcDEeFIiJLlmOoPpQRSWw');
const scp = (c: Cmd, s: Scan): void => {
  sshFamily('cDFiJloPSX')(c, s);
  if (c.args.some((w) => /^-[A-Za-z0-9]*r/.test(w))) readsRecursively(c, s);
};
const sftp = sshFamily('BbcDFiJloPRSsX');

const RSYNC_LONG = wordSet([
  'rsh rsync-path filter exclude include exclude-from include-from files-from backup-dir suffix chmod chown usermap groupmap timeout',
  'contimeout address port sockopts password-file log-file log-file-format out-format temp-dir compare-dest copy-dest link-dest',
  'compress-choice zc compress-level zl skip-compress checksum-choice cc bwlimit stop-after stop-at write-batch only-write-batch read-batch',
  'protocol iconv max-delete max-size min-size max-alloc partial-dir block-size modify-window info debug outbuf remote-option config dparam',
  'early-input copy-as',
].join(' '));
const rsync: Handler = (c, s) => {
  const a = c.args;
  let recursive = false;
  let operands = false;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (!operands && w === '--') {
      operands = true;
      continue;
    }
    if (!operands && w.startsWith('--')) {
      const eq = w.indexOf('=');
      const nm = eq < 0 ? w.slice(2) : w.slice(2, eq);
      if (nm === 'recursive' || nm === 'archive') recursive = true;
      if (!RSYNC_LONG.has(nm)) continue;
      const at = j;
      const v = eq >= 0 ? w.slice(eq + 1) : (a[++j] ?? '');
      if (nm === 'rsh' || nm === 'rsync-path') runs(c, s, `--${nm} runs ${q(v)}`, at);
      continue;
    }
    if (!operands && w.length > 1 && w[0] === '-') {
      for (let k = 1; k < w.length; k++) {
        const ch = w[k]!;
        if (ch === 'r' || ch === 'a') recursive = true;
        if (!'efBTM@'.includes(ch)) continue;
        const at = j;
        const v = k + 1 < w.length ? w.slice(k + 1) : (a[++j] ?? '');
        if (ch === 'e') runs(c, s, `-e runs ${q(v)}`, at);
        break;
      }
      continue;
    }
    if (/^rsync:\/\//i.test(w)) url(c, s, j, w);
    else {
      const h = remoteHost(w);
      if (h !== undefined) sshDest(c, s, j, h);
    }
  }
  if (recursive) readsRecursively(c, s);
};

const HTTPIE_LONG = wordSet('auth auth-type session session-read-only output verify cert cert-key cert-key-pass ssl ciphers proxy print pretty style timeout max-redirects default-scheme format-options response-charset response-mime max-headers history-print raw boundary resolve interface bearer http-version unix-socket');
const HTTP_METHODS = wordSet('GET POST PUT PATCH DELETE HEAD OPTIONS TRACE CONNECT');
const httpie: Handler = (c, s) => {
  const a = c.args;
  const pos: number[] = [];
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (w === '--') {
      for (let k = j + 1; k < a.length; k++) pos.push(k);
      break;
    }
    if (w.startsWith('--')) {
      const eq = w.indexOf('=');
      const nm = eq < 0 ? w.slice(2) : w.slice(2, eq);
      if (nm === 'offline') return;
      if (nm === 'proxy' || nm === 'resolve') repoints(c, s, j, `--${nm} redirects its connection`);
      if (HTTPIE_LONG.has(nm) && eq < 0) j++;
      continue;
    }
    if (w.length > 1 && w[0] === '-') {
      for (let k = 1; k < w.length; k++) {
        if (!'aAopsP'.includes(w[k]!)) continue;
        if (k + 1 === w.length) j++;
        break;
      }
      continue;
    }
    pos.push(j);
  }
  if (!pos.length) return;
  const u = pos.length > 1 && HTTP_METHODS.has(a[pos[0]!]!.toUpperCase()) ? pos[1]! : pos[0]!;
  const w = a[u]!;
  // ":8080/x" and ":/x" are httpie's shorthand for localhost
  if (!/^:\d*(?:[/?#]|$)/.test(w)) url(c, s, u, w);
};

const GRPCURL_VALUE = wordSet('H rpc-header reflect-header d import-path proto protoset protoset-out cacert cert key servername authority connect-timeout keepalive-time max-time max-msg-size format user-agent alts-handshaker-service alts-target-service-account');
const grpcurl: Handler = (c, s) => {
  const a = c.args;
  const pos: number[] = [];
  let unix = false;
  for (let j = 0; j < a.length; j++) {
    const w = a[j]!;
    if (w.length > 1 && w[0] === '-') {
      const body = w.replace(/^--?/, '');
      const eq = body.indexOf('=');
      const nm = eq < 0 ? body : body.slice(0, eq);
      if (nm === 'unix') unix = eq < 0 || body.slice(eq + 1) !== 'false';
      if (GRPCURL_VALUE.has(nm) && eq < 0) j++;
      continue;
    }
    pos.push(j);
  }
  const first = pos[0];
  if (unix || first === undefined || a[first] === 'list' || a[first] === 'describe') return;
  url(c, s, first, a[first]!);
};

const openssl: Handler = (c, s) => {
  const [sub] = c.args;
  const a = c.args;
  for (let j = 1; j < a.length; j++) {
    const w = a[j]!;
    if ((sub === 's_client' || sub === 's_time') && (w === '-connect' || w === '-host')) url(c, s, j + 1, a[j + 1] ?? '');
    else if ((sub === 's_client' || sub === 's_time') && w === '-proxy') repoints(c, s, j, `-proxy ${q(a[j + 1] ?? '')} goes through a proxy`);
    else if (sub === 'ocsp' && (w === '-url' || w === '-host')) url(c, s, j + 1, a[j + 1] ?? '');
    else continue;
    j++;
  }
};

const GIT_CODE_CONFIG = /^(?:core\.(?:sshcommand|pager|editor|fsmonitor|hookspath|gitproxy|askpass)|alias\.|protocol\.[^=]*allow|uploadpack\.|credential\.|diff\.[^=]*\.(?:textconv|command)|filter\.|merge\.[^=]*\.driver|sequence\.editor|gpg\.program|ssh\.variant)/i;
const GIT_REMOTE = wordSet('clone fetch pull push ls-remote submodule archive fetch-pack send-pack');
const git: Handler = (c, s) => {
  const a = c.args;
  let j = 0;
  for (; j < a.length && a[j]!.startsWith('-'); j++) {
    const w = a[j]!;
    if (w === '-c' || w === '--config-env') {
      const v = a[++j] ?? '';
      if (GIT_CODE_CONFIG.test(v)) runs(c, s, `${w} ${q(v)} can make git run a program`, j);
    } else if (w === '-C' || w === '--git-dir' || w === '--work-tree' || w === '--namespace' || w === '--super-prefix') j++;
  }
  const sub = a[j];
  if (sub === undefined || !GIT_REMOTE.has(sub) || (sub === 'archive' && !a.some((w) => w.startsWith('--remote')))) return;
  let remotes = 0;
  for (let k = j + 1; k < a.length; k++) {
    const w = a[k]!;
    if (w.startsWith('-')) {
      if (w.startsWith('--remote=')) url(c, s, k, w.slice(9));
      continue;
    }
    if (/^ext::/i.test(w)) {
      remotes++;
      runs(c, s, `remote ${q(w)} runs a command`, k);
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(w)) {
      remotes++;
      url(c, s, k, w);
    } else if (/^[a-z][a-z0-9+.-]*::/i.test(w)) {
      remotes++;
      repoints(c, s, k, `remote helper ${q(w)} connects somewhere`);
    } else if (w.startsWith('/') || w.startsWith('.')) remotes++;
    else {
      const h = remoteHost(w);
      if (h !== undefined) {
        remotes++;
        sshDest(c, s, k, h);
      }
    }
  }
  if (!remotes && sub !== 'clone') repoints(c, s, j, `${sub} contacts a configured remote`);
};

const sshKeyscan: Handler = (c, s) => {
  for (let j = 0; j < c.args.length; j++) {
    const w = c.args[j]!;
    if (w.length > 1 && w[0] === '-') {
      if (/^-[fpTtO]$/.test(w)) j++;
      continue;
    }
    for (const h of w.split(',')) flagHost(c, s, j, hostOf(h), w);
  }
};

// ----------------------------------------------------------------------------------------- destructive

const SINKS = wordSet('/dev/null /dev/stdout /dev/stderr /dev/tty');

/** Writes outside /tmp (or to an unknown place) count as destructive. */
function writes(c: Cmd, s: Scan, j: number, v = c.args[j] ?? ''): void {
  const segs = resolve(v, s.ctx);
  if (segs && (segs[0] === 'tmp' || SINKS.has(showPath(segs)))) return;
  destroys(c, s, `writes ${q(v)}${segs ? '' : ' (a relative path, working directory unknown)'} outside /tmp`, j);
}

const rm: Handler = (c, s) => {
  const g = scanGnu(c.args);
  if (['r', 'R', 'f'].some((x) => g.short.has(x)) || ['recursive', 'force', 'no-preserve-root'].some((n) => hasLong(g, n))) destroys(c, s, 'removes files recursively or by force');
};

const copyLike = (shortValue: string, longValue: string[]): Handler => (c, s) => {
  const g = scanGnu(c.args, shortValue, longValue);
  const t = gnuValue(g, 't', 'target-directory');
  if (c.name === 'install' && (g.short.has('d') || hasLong(g, 'directory'))) for (const p of g.pos) writes(c, s, p);
  else if (t) writes(c, s, t.at, t.v);
  else if (g.pos.length >= 2) writes(c, s, g.pos[g.pos.length - 1]!);
  else if (c.name === 'ln' && g.pos.length === 1) {
    // "ln -s TARGET" makes the link in the working directory
    const segs = s.ctx.wd === undefined ? undefined : absSegments(s.ctx.wd);
    if (!segs || segs[0] !== 'tmp') destroys(c, s, 'creates a link in the working directory', g.pos[0]);
  }
  if (c.name === 'cp' && (['r', 'R', 'a'].some((x) => g.short.has(x)) || hasLong(g, 'recursive') || hasLong(g, 'archive'))) readsRecursively(c, s);
};

const tee: Handler = (c, s) => {
  for (const p of scanGnu(c.args).pos) writes(c, s, p);
};

const chmodLike: Handler = (c, s) => {
  const g = scanGnu(c.args, '', ['reference', 'from']);
  if (g.short.has('R') || hasLong(g, 'recursive')) return destroys(c, s, 'changes files recursively');
  const root = g.pos.find((p) => resolve(c.args[p]!, s.ctx)?.length === 0);
  if (root !== undefined) destroys(c, s, 'changes /', root);
};

const ddHandler: Handler = (c, s) => {
  const j = c.args.findIndex((w) => w.startsWith('of='));
  if (j >= 0) destroys(c, s, `writes ${q(c.args[j]!.slice(3))}`, j);
};

const crontab: Handler = (c, s) => {
  const g = scanGnu(c.args, 'u');
  if (g.short.has('l') && g.pos.length === 0 && [...g.short].every((x) => x === 'l' || x === 'u')) return;
  destroys(c, s, 'installs, edits or removes a crontab');
};

const IPT_COMMANDS = ['append', 'delete', 'insert', 'replace', 'flush', 'zero', 'new-chain', 'delete-chain', 'policy', 'rename-chain'];
const iptables: Handler = (c, s) => {
  for (const [j, w] of c.args.entries()) {
    const short = /^-[^-]/.test(w) && /[ADIRFZNXPE]/.test(w.slice(1));
    const long = w.startsWith('--') && w.length > 4 && IPT_COMMANDS.some((n) => n.startsWith(w.slice(2).split('=')[0]!));
    if (short || long) return destroys(c, s, 'changes firewall rules', j);
  }
};

const nft: Handler = (c, s) => {
  const g = scanGnu(c.args, 'fIDT', ['file', 'includepath', 'define']);
  if (g.short.has('c') || hasLong(g, 'check')) return;
  if (gnuValue(g, 'f', 'file') || g.short.has('i') || hasLong(g, 'interactive')) return destroys(c, s, 'loads firewall rules');
  const first = g.pos[0];
  if (first !== undefined && !['list', 'describe', 'monitor', 'help'].includes(c.args[first]!.toLowerCase())) destroys(c, s, 'changes firewall rules', first);
};

const IP_READ = ['show', 'list', 'lst', 'ls', 'get', 'help', 'monitor', 'identify', 'pids'];
const IP_WRITE = ['add', 'append', 'change', 'chg', 'del', 'delete', 'flush', 'prepend', 'replace', 'restore', 'set', 'exec', 'attach', 'detach', 'update'];
const ipHandler: Handler = (c, s) => {
  const a = c.args;
  let j = 0;
  for (; j < a.length && a[j]!.startsWith('-'); j++) {
    const o = a[j]!.replace(/^-+/, '').toLowerCase();
    if (o && 'batch'.startsWith(o)) return destroys(c, s, 'runs a batch of ip commands', j);
    if (o && ('netns'.startsWith(o) || 'family'.startsWith(o) || 'loops'.startsWith(o) || (o.length >= 2 && 'rcvbuf'.startsWith(o)))) j++;
  }
  const obj = a[j]?.toLowerCase();
  const cmd = a[j + 1]?.toLowerCase();
  if (obj === undefined || cmd === undefined) return;
  if (((obj.length >= 3 && 'netns'.startsWith(obj)) || 'vrf'.startsWith(obj)) && 'exec'.startsWith(cmd)) {
    runs(c, s, `${obj} exec runs a command in another network namespace`, j + 1);
    return innerOf(c, s, j + 3);
  }
  const read = IP_READ.includes(cmd) || (cmd === 's' && 'address'.startsWith(obj)) || (IP_READ.some((r) => r.startsWith(cmd)) && !IP_WRITE.some((w) => w.startsWith(cmd)));
  if (!read) destroys(c, s, `${obj} ${cmd} changes network configuration`, j + 1);
};

const anyWordOf = (verbs: string, what: string): Handler => {
  const set = wordSet(verbs);
  return (c, s) => {
    const j = c.args.findIndex((w) => set.has(w));
    if (j >= 0) destroys(c, s, `${c.args[j]} ${what}`, j);
  };
};

const systemctl: Handler = (c, s) => {
  const g = scanGnu(c.args, 'tpHMnos', ['type', 'property', 'host', 'machine', 'lines', 'output', 'signal', 'state', 'root', 'kill-whom', 'job-mode', 'what', 'timestamp', 'message', 'image', 'drop-in', 'when', 'preset-mode', 'kill-value']);
  const first = g.pos[0];
  const read = wordSet('status show cat list-units list-unit-files list-sockets list-timers list-jobs list-dependencies list-machines list-automounts list-paths is-active is-enabled is-failed is-system-running help get-default show-environment');
  if (first !== undefined && !read.has(c.args[first]!)) destroys(c, s, `${c.args[first]} changes system services`, first);
};

const rpm: Handler = (c, s) => {
  const clusters = c.args.filter((w) => /^-[^-]/.test(w)).join('');
  const long = c.args.some((w) => /^--(?:install|upgrade|freshen|erase|reinstall)$/.test(w));
  if (long || (!/[qV]/.test(clusters) && /[iUFe]/.test(clusters))) destroys(c, s, 'installs or removes packages');
};

const dpkg: Handler = (c, s) => {
  if (c.args.some((w) => /^-[^-]*[irPx]/.test(w) || /^--(?:install|remove|purge|unpack|configure|set-selections)$/.test(w))) destroys(c, s, 'installs or removes packages');
};

const mount: Handler = (c, s) => {
  const g = scanGnu(c.args, 'tOoLU', ['types', 'options', 'label', 'uuid']);
  if (g.pos.length || g.short.has('a') || hasLong(g, 'all')) destroys(c, s, 'mounts filesystems');
};

const service: Handler = (c, s) => {
  if (c.args.length > 1 && c.args[1] !== 'status') destroys(c, s, `${c.args[1]} changes a service`, 1);
};

const ifconfig: Handler = (c, s) => {
  if (scanGnu(c.args).pos.length >= 2) destroys(c, s, 'changes an interface');
};

const sysctl: Handler = (c, s) => {
  if (c.args.some((w) => w.includes('=') || /^-[^-]*[wp]/.test(w) || w === '--system' || w === '--load' || w === '--write')) destroys(c, s, 'changes kernel parameters');
};

const swapon: Handler = (c, s) => {
  if (scanGnu(c.args).pos.length || c.args.includes('-a')) destroys(c, s, 'enables swap');
};

// -------------------------------------------------------------------------------- recursive readers

/** A path operand at or above a credential location, read by a program that recurses, reads that location. */
function readsRecursively(c: Cmd, s: Scan, from = 0, to = c.args.length): void {
  for (let j = from; j < to; j++) {
    const w = c.args[j]!;
    const v = !w.startsWith('-') ? w : w.includes('=') ? w.slice(w.indexOf('=') + 1) : w.length > 2 && w[1] !== '-' ? w.slice(2) : '';
    const segs = v ? resolve(v, s.ctx) : undefined;
    const r = segs && rootBelow(segs, s.ctx);
    if (r) add(s, 'credentialRead', `${c.program} reads ${showPath(segs)} recursively, which holds ${r.show}`, argAt(c, j));
  }
}

const TAR_RUNS = /^--(?:to-command|use-compress-program|info-script|new-volume-script|rsh-command|rmt-command|checkpoint-action=exec)|^-[IF]$/;
const tar: Handler = (c, s) => {
  const j = c.args.findIndex((w) => TAR_RUNS.test(w));
  if (j >= 0) runs(c, s, `${c.args[j]!.split('=')[0]} runs a program`, j);
  readsRecursively(c, s);
};

const zip: Handler = (c, s) => {
  const j = c.args.findIndex((w) => w === '-TT' || w.startsWith('--unzip-command'));
  if (j >= 0) runs(c, s, `${c.args[j]} runs a program`, j);
  if (c.args.some((w) => /^-[A-Za-z]*[rR]/.test(w) || w === '--recurse-paths' || w === '--recurse-patterns')) readsRecursively(c, s);
};

const grep: Handler = (c, s) => {
  const a = c.args;
  const rec = a.some((w, j) => /^-[A-Za-z]*[rR]/.test(w) || /^--(?:recursive|dereference-recursive|directories=recurse)$/.test(w) || (w === '-d' && a[j + 1] === 'recurse') || w === '-drecurse');
  if (rec || c.name !== 'grep') readsRecursively(c, s);
};

const readsAll: Handler = (c, s) => readsRecursively(c, s);

// ------------------------------------------------------------------------------------------- registry

function names(list: string, h: Handler): [string, Handler][] {
  return list.split(' ').map((n) => [n, h]);
}

const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ...names('sh bash dash ash zsh ksh mksh pdksh oksh loksh yash posh rbash hush fish csh tcsh elvish nu xonsh', shell),
  ...names('powershell pwsh', powershell),
  ['cmd', cmdExe],
  ...names('python pypy', python),
  ['perl', perl], ['ruby', ruby], ...names('node nodejs', node), ['deno', deno], ['bun', bun], ['php', php],
  ...names('lua luajit', lua), ['julia', julia], ...names('r rscript', rLang), ...names('elixir groovy jrunscript', eFlag), ['erl', erl],
  ...names('tclsh wish expect jimsh', always('inlineScript', 'evaluates Tcl, which can run commands (exec)')),
  ...names('awk gawk mawk nawk original-awk goawk', always('inlineScript', 'runs an awk program, which can run commands (system(), pipes)')),
  ['osascript', always('inlineScript', 'runs AppleScript or JavaScript code')],
  ...names('irb pry ipython bpython ptpython jshell ghci iex', always('shell', 'starts a REPL')),
  ...names('vim vi nvim ex view vimdiff rvim gvim', vim), ['emacs', emacs],
  ...names('sed gsed', sed),
  ['xargs', xargs], ['find', find], ['watch', watch], ['nsenter', nsenter], ['unshare', unshare], ['chroot', chroot],
  ['script', script], ...names('su runuser', su), ['flock', flock], ['sshpass', sshpass], ['capsh', capsh],
  ...names('tmux screen', runner('runs a terminal multiplexer', true)),
  ...names('strace ltrace valgrind perf gdb lldb catchsegv', runner('runs and traces a program')),
  ...names('setpriv systemd-run firejail bwrap proot fakeroot fakechroot faketime prlimit numactl cpulimit runcon start-stop-daemon dbus-run-session xvfb-run ssh-agent unbuffer chpst', runner('runs another program')),
  ...names('parallel', runner('runs commands it is given (through a shell)')),
  ...names('npx bunx pnpx uvx', runner('downloads and runs a package')),
  ...names('at batch', runner('schedules commands read from stdin')),
  ['curl', curl], ['wget', wget], ...names('nc ncat netcat', nc), ['socat', socat], ['telnet', connects('SbelnXk')],
  ...names('ftp tftp', connects('NoPrsTuxmRc')), ['lftp', connects('ecfpu', 'ecf')],
  ['ssh', ssh], ['scp', scp], ['sftp', sftp], ['rsync', rsync], ...names('http https xh xhs', httpie), ['grpcurl', grpcurl],
  ['openssl', openssl], ['git', git], ['ssh-keyscan', sshKeyscan],
  ...names('nmap masscan zmap', always('networkElsewhere', 'scans the network')),
  ['rm', rm], ['rmdir', always('destructive', 'removes directories')],
  ...names('kill pkill killall killall5 skill', always('destructive', 'signals processes')),
  ...names('shutdown reboot halt poweroff init telinit', always('destructive', 'stops or restarts the system')),
  ['systemctl', systemctl], ['service', service],
  ['dd', ddHandler],
  ...names('mkfs mke2fs mkswap fdisk sfdisk cfdisk parted sgdisk gdisk blkdiscard wipefs shred truncate', always('destructive', 'overwrites, formats or truncates storage or files')),
  ...names('chmod chown chgrp', chmodLike), ['mv', always('destructive', 'moves or renames files')], ['crontab', crontab],
  ...names('iptables ip6tables iptables-legacy ip6tables-legacy iptables-nft ip6tables-nft ebtables arptables', iptables),
  ...names('iptables-restore ip6tables-restore iptables-apply nft-restore', always('destructive', 'loads firewall rules')),
  ['nft', nft], ['ip', ipHandler], ['route', anyWordOf('add del', 'changes routes')], ['ifconfig', ifconfig],
  ['tc', anyWordOf('add del delete change replace link', 'changes traffic control')],
  ['sysctl', sysctl],
  ['mount', mount], ['umount', always('destructive', 'unmounts filesystems')], ['swapoff', always('destructive', 'disables swap')],
  ['swapon', swapon],
  ...names('apt apt-get aptitude', anyWordOf('install remove purge upgrade full-upgrade dist-upgrade autoremove autopurge reinstall build-dep satisfy', 'changes installed packages')),
  ['apk', anyWordOf('add del upgrade fix', 'changes installed packages')],
  ...names('yum dnf microdnf tdnf', anyWordOf('install in remove rm erase update up upgrade reinstall downgrade distro-sync autoremove groupinstall localinstall swap', 'changes installed packages')),
  ['zypper', anyWordOf('install in remove rm update up patch dist-upgrade dup', 'changes installed packages')],
  ['rpm', rpm], ['dpkg', dpkg],
  ...names('pip pipx uv poetry', anyWordOf('install uninstall reinstall upgrade inject add remove sync', 'changes installed packages')),
  ...names('npm yarn pnpm', anyWordOf('install i add ci uninstall un remove rm r update up upgrade link', 'changes installed packages')),
  ...names('gem cargo', anyWordOf('install uninstall update', 'changes installed packages')),
  ['go', anyWordOf('install get', 'changes installed packages')],
  ...names('conda mamba micromamba', anyWordOf('install remove uninstall update upgrade create', 'changes installed packages')),
  ['composer', anyWordOf('require install update remove', 'changes installed packages')],
  ['cp', copyLike('St', ['target-directory', 'suffix', 'sparse', 'no-preserve'])],
  ['install', copyLike('gmoSt', ['group', 'mode', 'owner', 'suffix', 'target-directory', 'strip-program'])],
  ['ln', copyLike('St', ['suffix', 'target-directory'])],
  ['tee', tee],
  ...names('useradd userdel usermod groupadd groupdel groupmod passwd chpasswd adduser deluser addgroup delgroup', always('destructive', 'changes user accounts')),
  ['tar', tar], ['zip', zip], ...names('7z 7za 7zr', readsAll),
  ...names('grep egrep fgrep zgrep rgrep rg ag ack', grep),
]);
