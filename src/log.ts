// The one logger shape every component takes: structured JSON on stderr, one object a line (kubectl logs,
// Loki), written by pino. Nothing is made at import: the composition root creates the root logger from its
// configuration and hands each component a child named after it; tests pass silentLogger or a capture.
import { pino, type Logger as PinoLogger } from 'pino';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A logger whose lines carry component: name (and the parent's bindings). */
  child(component: string): Logger;
}

// A child names its component afresh (from the root), so a line never carries two component keys.
function wrap(p: PinoLogger, root: PinoLogger): Logger {
  return {
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
    child: (component) => wrap(root.child({ component }), root),
  };
}

export interface LoggerOptions {
  level: Level;
  /** A writable taking one JSON line per call (default: stderr, written synchronously so a crash loses nothing). */
  destination?: { write(line: string): unknown };
}

/** The root logger: lines like {"level":"info","ts":"…","component":"proxy","msg":"…",…fields}. */
export function createLogger(opts: LoggerOptions): Logger {
  const p = pino(
    {
      level: opts.level,
      base: undefined,
      messageKey: 'msg',
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
  return wrap(p, p);
}

const discard = (): void => undefined;

/** A logger that drops everything (the default of components built without one, in tests). */
export const silentLogger: Logger = { debug: discard, info: discard, warn: discard, error: discard, child: () => silentLogger };

/** The error's stack (or text) as a log field. */
export function errorField(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
