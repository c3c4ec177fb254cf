// What the components tell each other and the composition root: the ports they listen on, and how much
// the webhook and proxy have served.
/** Ports the components listen on, known once started (0 in the config: any free port). */
export interface Ports {
  health?: number;
  metrics?: number;
  webhook?: number;
  proxy?: number;
}

/** What the webhook and proxy have served, for the idle collector (which runs only when nothing is). */
export interface Served {
  requests: () => number;
}
