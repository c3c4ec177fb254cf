// A small HTTPS GET for the OIDC issuer (discovery and JWKS) with its own CA, bounded in size and time.
import * as https from 'node:https';

export function httpsGetJson(url: string, opts: { ca?: string | Buffer; timeoutMs?: number; maxBytes?: number; signal?: AbortSignal } = {}): Promise<{ status: number; body: unknown }> {
  const u = new URL(url);
  if (u.protocol !== 'https:') return Promise.reject(new Error(`refusing non-https URL ${url}`));
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const req = https.get(u, { ca: opts.ca, headers: { accept: 'application/json' }, signal: opts.signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) req.destroy(new Error(`response from ${url} exceeds ${maxBytes} bytes`));
        else chunks.push(c);
      });
      res.on('error', reject);
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (err) {
          reject(new Error(`invalid JSON from ${url}: ${(err as Error).message}`));
        }
      });
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
  });
}
