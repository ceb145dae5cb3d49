// Writes docs/cli.md, the command reference, from the verbs' own declarations (src/cli/commands.ts): each verb's
// --help text under its heading. test/cli/reference.test.ts fails when the file is not what this writes.
//   node scripts/cli-reference.mjs            (after a build: make build)
import { writeFileSync } from 'node:fs';
import { URL } from 'node:url';
import { cliReference } from '../dist/src/cli/reference.js';

writeFileSync(new URL('../docs/cli.md', import.meta.url), cliReference());
