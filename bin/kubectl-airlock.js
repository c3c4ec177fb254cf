#!/usr/bin/env node
import { main } from '../dist/src/cli/airlock.js';
// Exit once stdout is flushed: into a pipe, process.exit() would cut a long answer (say `-o json`) short.
const exit = (code) => process.stdout.write('', () => process.exit(code));
main(process.argv.slice(2)).then(exit, (err) => { console.error(`error: ${err?.message ?? err}`); exit(1); });
