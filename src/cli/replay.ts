// kubectl airlock replay SESSION [--dir D] [--speed N] [--exec]: prints a session's timeline in order
// and, with --exec, plays its exec/attach streams (asciicast v2) in the terminal.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { findSession, playAsciicast, readSession, summarizeSession, type RequestRecord } from '../recording/index.js';
import { printable, sanitizeTerminal } from '../recording/terminal.js';
import { EXIT_FAIL, EXIT_OK, EXIT_USAGE, accessGate, commonHelp, formatDuration, parse, stdio, recordingDir, type Io } from '../recording/cli-common.js';

const usage = `Usage: kubectl airlock replay SESSION [--dir DIR] [--speed N] [--exec] [--max-gap SECONDS] [--raw]

Prints the session's timeline in order (time, verb, resource, decision, status). With --exec, exec and
attach streams are played back in the terminal at N times real speed (0: no waiting).

Flags:
  --speed N            playback speed for --exec (default 1)
  --exec               play exec/attach streams
  --max-gap SECONDS    cap pauses in exec playback (default 2)
  --raw                play exec output unfiltered (by default escape sequences that could act on your
                       terminal, e.g. title/clipboard OSC, device reports, are removed)
${commonHelp}`;

function resourceOf(r: RequestRecord): string {
  const q = r.request ?? { verb: '' };
  if (!q.resource) return r.path || '-';
  const res = (q.apiGroup ? `${q.resource}.${q.apiGroup}` : q.resource) + (q.subresource ? `/${q.subresource}` : '');
  if (q.name) return `${res} ${q.namespace ? `${q.namespace}/` : ''}${q.name}`;
  return q.namespace ? `${res} -n ${q.namespace}` : res;
}

/** One timeline line; every field is made printable (records hold agent-influenced text). */
export function timelineLine(r: RequestRecord): string {
  if (r.type === 'session-start' || r.type === 'session-end') return printable(`${r.time}  -- ${r.type} (${r.user?.username ?? '?'})`);
  const d = r.decision ?? { action: '?' };
  const decision = d.action + (d.rule ? ` [${d.policy ?? ''}/${d.rule}]` : '') + (d.approval ? ` approval=${d.approval}` : '');
  const reason = d.reason && d.action !== 'allow' ? `  "${d.reason}"` : '';
  return printable(`${r.time}  ${String(r.request?.verb ?? r.method).padEnd(7)} ${resourceOf(r).padEnd(40)} ${decision.padEnd(24)} ${r.status}${reason}`);
}

function castPath(dir: string, dateDir: string, p: string): string {
  if (isAbsolute(p)) return p;
  const a = resolve(dir, p);
  return existsSync(a) ? a : join(dateDir, p.split('/').pop()!);
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const args = parse(argv, { speed: { type: 'string' }, exec: { type: 'boolean' }, 'max-gap': { type: 'string' }, raw: { type: 'boolean' } }, io, usage);
  if (typeof args === 'number') return args;
  const v = args.values;
  if (args.positionals.length !== 1) return io.err(`error: exactly one SESSION is required\n\n${usage}`), EXIT_USAGE;
  const speed = v.speed === undefined ? 1 : Number(v.speed);
  const maxGap = v['max-gap'] === undefined ? 2 : Number(v['max-gap']);
  if (!Number.isFinite(speed) || speed < 0) return io.err('error: --speed must be a number >= 0\n'), EXIT_USAGE;
  if (!Number.isFinite(maxGap) || maxGap < 0) return io.err('error: --max-gap must be a number >= 0\n'), EXIT_USAGE;
  const denied = await accessGate(v, io);
  if (denied !== undefined) return denied;
  const dir = recordingDir(v, io);
  if (typeof dir === 'number') return dir;
  const files = findSession(dir, args.positionals[0]!);
  if (!files) return io.err(`error: session "${args.positionals[0]}" not found in ${dir}\n`), EXIT_USAGE;
  let records: RequestRecord[];
  try {
    records = readSession(files);
  } catch (err) {
    io.err(`error: ${(err as Error).message}\n`);
    return EXIT_FAIL;
  }
  const sum = summarizeSession(files, records);
  io.out(`Session ${sum.sessionId}  agent=${sum.agent}  start=${sum.start}  duration=${formatDuration(sum.durationMs)}  requests=${sum.requests}  denials=${sum.denials}  holds=${sum.holds}\n`);
  let status = EXIT_OK;
  for (const r of [...records].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) {
    io.out(timelineLine(r) + '\n');
    if (!r.asciicast || !v.exec) {
      if (r.asciicast) io.out(`    (exec stream: ${printable(r.asciicast)}; use --exec to play it)\n`);
      continue;
    }
    const p = castPath(dir, files.dateDir, r.asciicast);
    io.out(`---- exec stream ${printable(r.asciicast)} ----\n`);
    try {
      const write = v.raw ? io.out : (s: string) => io.out(sanitizeTerminal(s));
      await playAsciicast(readFileSync(p, 'utf8'), write, {
        speed: speed === 0 ? Number.POSITIVE_INFINITY : speed,
        maxGapSeconds: maxGap,
        sleep: speed === 0 ? async () => undefined : undefined,
      });
    } catch (err) {
      io.err(`error: cannot play ${p}: ${(err as Error).message}\n`);
      status = EXIT_FAIL;
    }
    io.out(`\n---- end of exec stream ----\n`);
  }
  return status;
}
