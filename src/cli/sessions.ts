// kubectl airlock sessions [--dir D] [-o json]: lists recorded agent sessions.
import { listSessionFiles, readSession, summarizeSession, type SessionSummary } from '../recording/index.js';
import { EXIT_FAIL, EXIT_OK, EXIT_USAGE, accessGate, commonHelp, formatDuration, outputFormat, parse, stdio, recordingDir, table, type Io } from '../recording/cli-common.js';

const usage = `Usage: kubectl airlock sessions [--dir DIR] [-o json|table]

Lists recorded agent sessions: agent, start, duration, requests, denials, holds.

Flags:
  -o, --output FORMAT  table (default) or json
${commonHelp}`;

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const args = parse(argv, { output: { type: 'string', short: 'o' } }, io, usage);
  if (typeof args === 'number') return args;
  const v = args.values;
  const format = outputFormat(v.output, ['table', 'json'], io);
  if (!format) return EXIT_USAGE;
  if (args.positionals.length) return io.err(`error: unexpected arguments: ${args.positionals.join(' ')}\n\n${usage}`), EXIT_USAGE;
  const denied = await accessGate(v, io);
  if (denied !== undefined) return denied;
  const dir = recordingDir(v, io);
  if (typeof dir === 'number') return dir;
  const summaries: SessionSummary[] = [];
  let status = EXIT_OK;
  for (const files of listSessionFiles(dir)) {
    try {
      summaries.push(summarizeSession(files, readSession(files)));
    } catch (err) {
      io.err(`warning: session ${files.sessionId}: ${(err as Error).message}\n`);
      status = EXIT_FAIL;
    }
  }
  summaries.sort((a, b) => a.start.localeCompare(b.start) || a.sessionId.localeCompare(b.sessionId));
  if (format === 'json') {
    io.out(JSON.stringify({ dir, sessions: summaries }, null, 2) + '\n');
    return status;
  }
  if (!summaries.length) {
    io.err(`No sessions found in ${dir}.\n`);
    return status;
  }
  io.out(table(
    ['SESSION', 'AGENT', 'START', 'DURATION', 'REQUESTS', 'DENIALS', 'HOLDS', 'STATE'],
    summaries.map((s) => [s.sessionId, s.agent, s.start, formatDuration(s.durationMs), String(s.requests), String(s.denials), String(s.holds), s.ended ? 'ended' : 'open']),
  ));
  return status;
}
