// Validates docs/asyncapi.yaml (or the file named) with the AsyncAPI project's own parser,
// its $refs to docs/schemas/ resolved: prints every diagnostic and exits 1 on an error or
// a warning, 0 when the document is clean.
//
// The parser is not in the repository: scripts/test installs @asyncapi/parser, at the
// version pinned there, under NETRAVEN_TOOLS (default ~/.cache/netraven/tools), and
// NODE_PATH points there.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const require = createRequire(import.meta.url);
const file = resolve(process.argv[2] ?? new URL('../docs/asyncapi.yaml', import.meta.url).pathname);
let parserModule;
try {
  parserModule = require(require.resolve('@asyncapi/parser', { paths: (process.env.NODE_PATH ?? '').split(':') }));
} catch (e) {
  console.error(`@asyncapi/parser not found (NODE_PATH=${process.env.NODE_PATH ?? ''}): run scripts/test, which installs it`);
  process.exit(2);
}
const { Parser, fromFile } = parserModule;
const severities = ['error', 'warning', 'info', 'hint'];
const { document, diagnostics } = await fromFile(new Parser(), file).parse();
let bad = 0;
for (const d of diagnostics) {
  const severity = severities[d.severity] ?? String(d.severity);
  if (d.severity <= 1) bad += 1;
  console.log(`${severity} ${d.code} at /${d.path.join('/')}: ${d.message}`);
}
if (!document || bad > 0) {
  console.error(`${file}: ${bad} errors and warnings`);
  process.exit(1);
}
console.log(`${file}: valid AsyncAPI ${document.version()}`);
