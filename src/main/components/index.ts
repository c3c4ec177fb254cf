// The components of one Airlock process, in start order. Probes first (probes.ts); then, on every replica,
// the webhook and the proxy; then, on the leader only, the singleton controllers: approval expiry (first,
// so a new leader catches up at once), the budget sweeper, the webhook's certificate rotation and
// registration, and AgentPolicy status.
import type { Component } from '../component.js';
import type { Deps } from '../services.js';
import { startIdleCollector } from '../memory.js';
import { webhookComponent, webhookRegistrationComponent } from './webhook.js';
import { proxyComponent } from './proxy.js';
import { approvalControllerComponent, budgetSweeperComponent, policyStatusComponent } from './controllers.js';

export { probeComponents } from './probes.js';
export type { Ports } from './shared.js';
import type { Ports, Served } from './shared.js';


function idleCollectorComponent(served: Served): Component<Deps> {
  return {
    name: 'idle-collector',
    leaderOnly: false,
    async start({ log }) {
      const collector = startIdleCollector({
        activity: () => served.requests(),
        onCollect: (before, after) => log.child('memory').debug('idle: heap collected', { beforeMiB: Math.round(before / 1048576), afterMiB: Math.round(after / 1048576) }),
      });
      return () => collector.stop();
    },
  };
}

export function serviceComponents(ports: Ports): Component<Deps>[] {
  const served: Served = { requests: () => 0 };
  return [
    webhookComponent(ports, served),
    proxyComponent(ports, served),
    idleCollectorComponent(served),
    approvalControllerComponent(),
    budgetSweeperComponent(),
    webhookRegistrationComponent(),
    policyStatusComponent(),
  ];
}
