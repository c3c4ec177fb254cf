// A minimal MCP client over stdio (JSON-RPC 2.0, one message per line) for driving a real MCP server in
// tests: initialize, list tools, call a tool. Three messages do not justify the SDK and its dependencies.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ToolResult {
  isError: boolean;
  /** The text content blocks, joined. */
  text: string;
}

export class McpClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  stderr = '';

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let msg: { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return; // not a protocol message
      }
      const waiter = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (!waiter) return;
      this.pending.delete(msg.id!);
      if (msg.error) waiter.reject(new Error(msg.error.message));
      else waiter.resolve(msg.result ?? {});
    });
    this.child.on('exit', (code) => {
      for (const w of this.pending.values()) w.reject(new Error(`MCP server exited (${code}): ${this.stderr.slice(-500)}`));
      this.pending.clear();
    });
  }

  private request(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  }

  async initialize(): Promise<void> {
    await this.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'airlock-tests', version: '1' } });
    this.child.stdin.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
  }

  async tools(): Promise<string[]> {
    const res = await this.request('tools/list', {});
    return ((res.tools as Array<{ name: string }> | undefined) ?? []).map((t) => t.name);
  }

  async call(name: string, args: Record<string, unknown>): Promise<ToolResult> {
    const res = await this.request('tools/call', { name, arguments: args });
    const content = (res.content as Array<{ type: string; text?: string }> | undefined) ?? [];
    return { isError: res.isError === true, text: content.map((c) => c.text ?? '').join('\n') };
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}
