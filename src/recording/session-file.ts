// The files of one session: the current segment's handle, its size, and the chain's tail (next seq and
// the last hash), continued from disk when a session is reopened (restart, late record after idle end).
import { constants, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { open, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ZERO_HASH } from './canonical.js';
import { splitLines } from './chain.js';
import { segmentName, sessionFromFile } from './paths.js';
import type { RecordingMetrics, RequestRecord } from './types.js';

/** Appending, never through a symlink: a planted link (to /dev/zero, another file) makes the open fail. */
const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;

/** A segment is read back only when it is a regular file (never a device, fifo or link). */
function assertRegularFile(path: string): void {
  const st = lstatSync(path);
  if (!st.isFile()) throw new Error(`recording segment ${path} is not a regular file`);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function lastRecord(path: string): RequestRecord | undefined {
  assertRegularFile(path);
  const { lines } = splitLines(readFileSync(path, 'utf8'));
  const last = lines.at(-1);
  return last ? (JSON.parse(last) as RequestRecord) : undefined;
}

export class SessionFile {
  readonly dateDir: string;
  readonly sessionId: string;
  segment = 0;
  /** Bytes in the current segment. */
  bytes = 0;
  /** seq of the next record. */
  seq = 0;
  /** hash of the last record. */
  prevHash = ZERO_HASH;
  private fh: FileHandle | undefined;

  private readonly metrics: Pick<RecordingMetrics, 'recordingBytesTotal'>;

  // Fields, not parameter properties: this module also runs under Node's type stripping (the SIGKILL test).
  constructor(dateDir: string, sessionId: string, metrics: Pick<RecordingMetrics, 'recordingBytesTotal'>) {
    this.metrics = metrics;
    this.dateDir = dateDir;
    this.sessionId = sessionId;
  }

  get isOpen(): boolean {
    return this.fh !== undefined;
  }

  /** Opens the last segment for appending, continuing its chain; creates the first one if none exists. */
  async open(): Promise<void> {
    mkdirSync(this.dateDir, { recursive: true, mode: 0o700 });
    const existing = sessionFromFile(join(this.dateDir, segmentName(this.sessionId, 0)));
    const last = existing?.segments.at(-1);
    if (!existing || !last) {
      await this.create(0);
      return;
    }
    this.segment = last.segment;
    assertRegularFile(last.path);
    const text = readFileSync(last.path, 'utf8');
    const { torn } = splitLines(text);
    // A torn last line was never acknowledged (see chain.ts): cut it off before appending.
    const good = Buffer.byteLength(text, 'utf8') - (torn !== undefined ? Buffer.byteLength(torn, 'utf8') : 0);
    if (torn !== undefined) await truncate(last.path, good);
    this.fh = await open(last.path, APPEND, 0o600);
    this.bytes = good;
    let tail = lastRecord(last.path);
    if (!tail && existing.segments.length > 1) tail = lastRecord(existing.segments.at(-2)!.path);
    this.seq = (tail?.seq ?? -1) + 1;
    this.prevHash = tail?.hash ?? ZERO_HASH;
  }

  /** Closes the current segment and continues in the next one (the chain carries across). */
  async rotate(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
    await this.create(this.segment + 1);
  }

  /** Writes the buffer fully and fdatasyncs it. */
  async writeSync(buf: Buffer): Promise<void> {
    if (!this.fh) throw new Error(`session ${this.sessionId} is not open`);
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    await this.fh.datasync();
    this.bytes += buf.length;
    this.metrics.recordingBytesTotal.inc(buf.length);
  }

  /** Cuts the current segment back to `bytes` (after a failed write). */
  async truncate(bytes: number): Promise<void> {
    if (!this.fh) throw new Error(`session ${this.sessionId} is not open`);
    await this.fh.truncate(bytes);
    this.bytes = bytes;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  private async create(segment: number): Promise<void> {
    this.segment = segment;
    this.fh = await open(join(this.dateDir, segmentName(this.sessionId, segment)), APPEND, 0o600);
    await syncDir(this.dateDir);
    this.bytes = 0;
  }
}
