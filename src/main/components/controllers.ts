// The leader's singleton controllers: Approval expiry and conditions (first, so a new leader catches up at
// once), the budget sweeper, and AgentPolicy status.
import type { Component } from '../component.js';
import type { Deps } from '../services.js';
import { startApprovalController } from '../../operator/approval-controller.js';
import { startBudgetSweeper } from '../../budgets/sweeper.js';

export function approvalControllerComponent(): Component<Deps> {
  return {
    name: 'approval-controller',
    leaderOnly: true,
    async start({ client, approvalCache, log, metrics }) {
      const controller = startApprovalController(client, approvalCache, { log: log.child('approval-controller'), metrics });
      void controller.caughtUp.then((n) => log.child('approval-controller').info('approval expiry caught up', { expired: n }), () => undefined);
      return () => controller.stop();
    },
  };
}

export function budgetSweeperComponent(): Component<Deps> {
  return {
    name: 'budget-sweeper',
    leaderOnly: true,
    async start({ client, cfg, log }) {
      const sweeper = startBudgetSweeper(client, cfg.namespace, { log: log.child('budget-sweeper') });
      return () => sweeper.stop();
    },
  };
}

export function policyStatusComponent(): Component<Deps> {
  return {
    name: 'policy-status',
    leaderOnly: true,
    async start({ policies }) {
      await policies.resyncStatus();
    },
  };
}
