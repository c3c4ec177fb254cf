// Client certificates verified against the proxy's client CA: CN is the username, O the groups.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { UserInfo } from '../../policy/types.js';
import type { Authenticator } from './types.js';

export class ClientCertAuthenticator implements Authenticator {
  async authenticate(req: IncomingMessage): Promise<UserInfo | undefined> {
    const sock = req.socket as TLSSocket;
    if (typeof sock.getPeerCertificate !== 'function' || !sock.authorized) return undefined;
    const cert = sock.getPeerCertificate();
    if (!cert || !cert.subject) return undefined;
    const cn = cert.subject.CN;
    const username = Array.isArray(cn) ? cn[0] : cn;
    if (!username) return undefined;
    const o = cert.subject.O;
    const groups = (Array.isArray(o) ? o : o ? [o] : []).filter(Boolean);
    return { username, groups: [...groups, 'system:authenticated'] };
  }
}
