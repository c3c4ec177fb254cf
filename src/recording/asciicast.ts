// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one JSON array
// per event: [seconds since start, "o" | "i" | "r", data]. Files stay playable by `asciinema play`.
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { AsciicastWriter, RecordingMetrics } from './types.js';

export interface AsciicastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp?: number;
  command?: string;
  title?: string;
  env?: Record<string, string>;
}

export type AsciicastEvent = [number, 'o' | 'i' | 'r' | 'm', string];

export interface AsciicastOptions {
  command?: string;
  cols?: number;
  rows?: number;
  /** Stop recording output past this many bytes (a final note says so). Default 64 MiB. */
  maxBytes?: number;
  now?: () => number;
}

export class AsciicastFileWriter implements AsciicastWriter {
  readonly file: string;
  private readonly maxBytes: number;
  private readonly now: () => number;
  private readonly start: number;
  private readonly hash: Hash = createHash('sha256');
  private readonly out = new StringDecoder('utf8');
  private readonly in = new StringDecoder('utf8');
  private fh: Promise<FileHandle>;
  private chain: Promise<void>;
  private bytes = 0;
  private truncated = false;
  private closed = false;
  private error: Error | undefined;
  /** sha256 of the file once closed. */
  sha256: string | undefined;

  private readonly metrics: RecordingMetrics;

  constructor(file: string, metrics: RecordingMetrics, opts: AsciicastOptions = {}) {
    this.metrics = metrics;
    this.file = file;
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.now = opts.now ?? Date.now;
    this.start = this.now();
    const header: AsciicastHeader = {
      version: 2,
      width: opts.cols && opts.cols > 0 ? Math.floor(opts.cols) : 80,
      height: opts.rows && opts.rows > 0 ? Math.floor(opts.rows) : 24,
      timestamp: Math.floor(this.start / 1000),
      env: { TERM: 'xterm-256color', SHELL: '/bin/sh' },
    };
    if (opts.command) header.command = opts.command;
    this.fh = open(file, 'wx', 0o600);
    this.chain = this.fh.then(
      () => undefined,
      (err: Error) => {
        this.error = err;
        this.metrics.recordingErrorsTotal.inc();
      },
    );
    this.append(JSON.stringify(header) + '\n');
  }

  output(data: Buffer | string): void {
    this.event('o', typeof data === 'string' ? data : this.out.write(data));
  }

  input(data: Buffer | string): void {
    this.event('i', typeof data === 'string' ? data : this.in.write(data));
  }

  resize(cols: number, rows: number): void {
    if (cols > 0 && rows > 0) this.event('r', `${Math.floor(cols)}x${Math.floor(rows)}`);
  }

  async close(): Promise<void> {
    if (this.closed) return this.chain;
    const tailOut = this.out.end();
    const tailIn = this.in.end();
    if (tailOut) this.event('o', tailOut);
    if (tailIn) this.event('i', tailIn);
    this.closed = true;
    this.chain = this.chain.then(async () => {
      if (this.error) return;
      const fh = await this.fh;
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      this.sha256 = this.hash.digest('hex');
    });
    await this.chain;
    if (this.error) throw this.error;
  }

  private event(code: 'o' | 'i' | 'r', data: string): void {
    if (this.closed || data === '' || this.truncated) return;
    const t = Math.max(0, (this.now() - this.start) / 1000);
    let line = JSON.stringify([Number(t.toFixed(6)), code, data]) + '\n';
    if (this.bytes + line.length > this.maxBytes) {
      this.truncated = true;
      line = JSON.stringify([Number(t.toFixed(6)), 'o', '\r\n[airlock: recording truncated at size limit]\r\n']) + '\n';
    }
    this.append(line);
  }

  private append(line: string): void {
    const buf = Buffer.from(line, 'utf8');
    this.bytes += buf.length;
    this.hash.update(buf);
    this.chain = this.chain.then(async () => {
      if (this.error) return;
      try {
        const fh = await this.fh;
        await fh.write(buf);
        this.metrics.recordingBytesTotal.inc(buf.length);
      } catch (err) {
        this.error = err as Error;
        this.metrics.recordingErrorsTotal.inc();
      }
    });
  }
}

/** Parses an asciicast v2 file; throws on anything that is not valid v2. */
export function parseAsciicast(text: string): { header: AsciicastHeader; events: AsciicastEvent[] } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (!lines.length) throw new Error('empty asciicast file');
  const header = JSON.parse(lines[0]!) as AsciicastHeader;
  if (header.version !== 2 || !Number.isInteger(header.width) || !Number.isInteger(header.height)) throw new Error('not an asciicast v2 header');
  const events: AsciicastEvent[] = [];
  let last = 0;
  for (let i = 1; i < lines.length; i++) {
    const e = JSON.parse(lines[i]!) as unknown;
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'number' || typeof e[1] !== 'string' || typeof e[2] !== 'string') {
      throw new Error(`asciicast line ${i + 1}: not an event [time, code, data]`);
    }
    if (e[0] < last) throw new Error(`asciicast line ${i + 1}: time goes backwards`);
    last = e[0];
    events.push(e as AsciicastEvent);
  }
  return { header, events };
}

/** Plays output events to a writer, at `speed` times real time; gaps are capped at maxGapSeconds. */
export async function playAsciicast(
  text: string,
  write: (s: string) => void,
  opts: { speed?: number; maxGapSeconds?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<void> {
  const { events } = parseAsciicast(text);
  const speed = opts.speed && opts.speed > 0 ? opts.speed : 1;
  const maxGap = opts.maxGapSeconds ?? 2;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let prev = 0;
  for (const [t, code, data] of events) {
    const gap = Math.min(t - prev, maxGap) / speed;
    prev = t;
    if (gap > 0.001) await sleep(gap * 1000);
    if (code === 'o') write(data);
  }
}
