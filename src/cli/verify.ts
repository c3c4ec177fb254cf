// kubectl airlock verify [--dir D] [SESSION|FILE]: checks the hash chain of session recordings.
// Exit 0: every chain verifies; 1: tampering or corruption (the first broken record is named).
import { existsSync, statSync } from 'node:fs';
import { findSession, listSessionFiles, sessionFromFile, verifySession, type SessionFiles } from '../recording/index.js';
import { EXIT_FAIL, EXIT_OK, EXIT_USAGE, accessGate, commonHelp, outputFormat, parse, stdio, recordingDir, type Io } from '../recording/cli-common.js';

const usage = `Usage: kubectl airlock verify [--dir DIR] [SESSION|FILE] [-o json]

Verifies the hash chain of one session (by id or by one of its .jsonl files) or of every session in DIR,
and the sha256 of every asciicast a record names. Exit code 1 names the first broken record.
A final line without its newline was never acknowledged by the recorder: it is dropped with a warning.

Flags:
  -o, --output FORMAT  text (default) or json
${commonHelp}`;

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const args = parse(argv, { output: { type: 'string', short: 'o' } }, io, usage);
  if (typeof args === 'number') return args;
  const v = args.values;
  if (args.positionals.length > 1) return io.err(`error: at most one SESSION or FILE\n\n${usage}`), EXIT_USAGE;
  const format = outputFormat(v.output, ['text', 'json'], io);
  if (!format) return EXIT_USAGE;
  const denied = await accessGate(v, io);
  if (denied !== undefined) return denied;
  const dir = recordingDir(v, io);
  if (typeof dir === 'number') return dir;
  const arg = args.positionals[0];
  let targets: SessionFiles[];
  if (arg) {
    const s = existsSync(arg) && statSync(arg).isFile() ? sessionFromFile(arg) : findSession(dir, arg);
    if (!s || !s.segments.length) return io.err(`error: session or file "${arg}" not found in ${dir}\n`), EXIT_USAGE;
    targets = [s];
  } else {
    targets = listSessionFiles(dir);
    if (!targets.length) io.err(`No sessions found in ${dir}.\n`);
  }
  let failed = 0;
  const results = [];
  for (const t of targets) {
    let r;
    try {
      r = verifySession(t, dir);
    } catch (err) {
      r = { sessionId: t.sessionId, ok: false, records: 0, warnings: [], ended: false, error: { file: t.segments[0]?.path ?? '', line: 0, message: (err as Error).message } };
    }
    results.push(r);
    if (!r.ok) failed++;
    if (format === 'text') {
      for (const w of r.warnings) io.err(`warning: ${r.sessionId}: ${w.file}${w.line ? `:${w.line}` : ''}: ${w.message}\n`);
      if (r.ok) io.out(`OK        ${r.sessionId} (${r.records} records)\n`);
      else {
        const e = r.error!;
        io.out(`TAMPERED  ${r.sessionId}: first broken record at ${e.file}:${e.line}${e.seq !== undefined ? ` (seq ${e.seq})` : ''}: ${e.message}\n`);
      }
    }
  }
  if (format === 'json') io.out(JSON.stringify({ dir, ok: failed === 0, sessions: results }, null, 2) + '\n');
  return failed ? EXIT_FAIL : EXIT_OK;
}
