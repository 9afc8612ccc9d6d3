// Preload for the committed lab report (docs/labs): the host's CPUs and memory pinned to the
// machine it was first rendered on (2 CPUs, 23.6 GiB), so the report reads the same on every
// machine of this kind, whose memory differs by a few MiB.  Node's own functions are replaced
// and the ES module bindings synced, so `import { totalmem } from 'node:os'` sees them too.
import os from 'node:os';
import { syncBuiltinESMExports } from 'node:module';

os.totalmem = () => 24_151 * 2 ** 20;
os.availableParallelism = () => 2;
syncBuiltinESMExports();
