// Detectors on the command an exec would run (src/policy/exec-command.ts judges the argv): one per
// hazard class, so a policy can deny some classes and hold others.
import type { HazardClass } from '../exec-command.js';
import { hazardsOf } from '../exec-facts.js';
import type { Detector } from './types.js';
import { hit } from './util.js';

function hazardDetector(name: string, cls: HazardClass): Detector {
  return (req) => {
    if (!req.exec || !req.isResourceRequest || req.apiGroup !== '' || req.resource !== 'pods') return [];
    return hazardsOf(req.exec)
      .filter((h) => h.class === cls)
      .map((h) => hit(name, h.arg !== undefined ? `command[${h.arg}]` : 'command', h.message));
  };
}

export const execInlineScript = hazardDetector('execInlineScript', 'inlineScript');
export const execShell = hazardDetector('execShell', 'shell');
export const execCommandRunner = hazardDetector('execCommandRunner', 'commandRunner');
export const execCredentialRead = hazardDetector('execCredentialRead', 'credentialRead');
export const execNetwork = hazardDetector('execNetwork', 'networkElsewhere');
export const execDestructive = hazardDetector('execDestructive', 'destructive');
export const execInteractive = hazardDetector('execInteractive', 'interactive');
