// Shared pieces of the recording CLIs (sessions, replay, verify): flags, access check, formatting.
import { existsSync, statSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { checkRecordingAccess } from './access.js';

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;
export const EXIT_FORBIDDEN = 3;

export function defaultDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.AIRLOCK_RECORDING_DIR || '.airlock/recordings';
}

/**
 * The recording directory from --dir or the default, or EXIT_FAIL after saying it is not there: a mistyped
 * path must not read as "no sessions".
 */
export function recordingDir(values: { dir?: unknown }, io: Io): string | number {
  const dir = typeof values.dir === 'string' ? values.dir : defaultDir();
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch { /* missing: said below */ }
  if (isDir) return dir;
  io.err(`error: recording directory ${dir} ${existsSync(dir) ? 'is not a directory' : 'does not exist'} (set --dir or AIRLOCK_RECORDING_DIR)\n`);
  return EXIT_FAIL;
}

export const commonOptions = {
  dir: { type: 'string' },
  'check-access': { type: 'boolean' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const commonHelp = `  --dir DIR          recording directory (default $AIRLOCK_RECORDING_DIR or .airlock/recordings)
  --check-access     ask the cluster first (SelfSubjectAccessReview: get recordings.airlock.dev)
  --kubeconfig FILE  kubeconfig for --check-access (default: KUBECONFIG / ~/.kube/config / in-cluster)
  --context NAME     kubeconfig context for --check-access
`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const stdio: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};

/**
 * Parses flags. Returns the exit code instead when the command is done: EXIT_USAGE after printing the
 * problem with bad usage, EXIT_OK after printing the usage for --help.
 */
export function parse<O extends ParseArgsConfig['options']>(argv: string[], options: O, io: Io, usage: string) {
  let args;
  try {
    args = parseArgs({ args: argv, options: { ...commonOptions, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    io.err(`error: ${(err as Error).message}\n\n${usage}`);
    return EXIT_USAGE;
  }
  if ((args.values as { help?: boolean }).help) {
    io.out(usage);
    return EXIT_OK;
  }
  return args;
}

/** With --check-access: returns an exit code when access is denied or cannot be checked. */
export async function accessGate(values: { 'check-access'?: boolean; kubeconfig?: string; context?: string }, io: Io): Promise<number | undefined> {
  if (!values['check-access']) return undefined;
  try {
    const { KubeClient } = await import('../k8s/client.js');
    const client = await KubeClient.load(values.kubeconfig, values.context);
    const res = await checkRecordingAccess(client);
    if (!res.allowed) {
      io.err(`error: access denied: you may not get recordings.airlock.dev${res.reason ? ` (${res.reason})` : ''}\n`);
      return EXIT_FORBIDDEN;
    }
    return undefined;
  } catch (err) {
    io.err(`error: cannot check access to recordings: ${(err as Error).message}\n`);
    return EXIT_FORBIDDEN;
  }
}

export function formatDuration(ms: number): string {
  let s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

/** Renders rows as aligned columns (kubectl style). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** The -o/--output value, checked against the formats a command offers (the first is the default). */
export function outputFormat<F extends string>(value: unknown, formats: readonly [F, ...F[]], io: Io): F | undefined {
  const format = (value as string | undefined) ?? formats[0];
  if ((formats as readonly string[]).includes(format)) return format as F;
  io.err(`error: unknown output format "${format}" (${formats.join(', ')})\n`);
  return undefined;
}
