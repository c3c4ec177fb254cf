// The probes: /healthz, /livez and /readyz, and /metrics. Started first, so they answer ("not ready")
// while the rest of the process starts.
import * as http from 'node:http';
import type { Component } from '../component.js';
import type { BaseDeps } from '../services.js';
import type { Ports } from './shared.js';

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res((server.address() as { port: number }).port));
  });
}

const closeServer = (server: http.Server) => (): Promise<void> => new Promise((r) => server.close(() => r()));

export function probeComponents(ports: Ports): Component<BaseDeps>[] {
  return [
    {
      name: 'health',
      leaderOnly: false,
      async start({ cfg, state, apiServer }) {
        const server = http.createServer((req, res) => {
          if (req.url === '/healthz' || req.url === '/livez') return void res.writeHead(200).end('ok');
          if (req.url === '/readyz') {
            // Not ready while kube-apiserver does not answer: every agent request could only time out.
            const why = !state.ready ? 'starting' : state.draining ? 'draining' : !apiServer.reachable ? 'kube-apiserver unreachable' : undefined;
            return void res.writeHead(why ? 503 : 200).end(why ? `not ready: ${why}` : 'ok');
          }
          res.writeHead(404).end();
        });
        ports.health = await listen(server, cfg.healthPort, cfg.bindAddress);
        return closeServer(server);
      },
    },
    {
      name: 'metrics',
      leaderOnly: false,
      async start({ cfg, metrics }) {
        const server = http.createServer((req, res) => {
          if (req.url !== '/metrics') return void res.writeHead(404).end();
          metrics.registry.metrics().then(
            (body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(body),
            (err: unknown) => res.writeHead(500).end(String(err)),
          );
        });
        ports.metrics = await listen(server, cfg.metricsPort, cfg.bindAddress);
        return closeServer(server);
      },
    },
  ];
}
