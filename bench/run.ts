// `npm run bench`: every benchmark, one markdown table, saved to bench/results.md with the
// machine's cores, memory and accelerator.  `npm run bench debian-nest` (opt-in: about half an
// hour for three runs of each side) saves its table to bench/results-debian-nest.md.
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../tasks/util/paths.ts';
import { probeHost } from '../tasks/qemu/host-probe.ts';
import { table, type Row } from './stats.ts';
import { benchStartup } from './startup.ts';
import { benchBoot } from './boot.ts';
import { benchNested } from './nested.ts';
import { benchChart } from './chart.ts';
import { benchCommands } from './commands.ts';
import { benchResumeCli, benchResumeCliDebianNest } from './resume-cli.ts';
import { benchReset } from './reset.ts';
import { benchMemory } from './memory.ts';
import { benchDebianNest } from './debian-nest.ts';
import { benchSuspend, benchSuspendDebianNest } from './suspend.ts';
import { benchLibvirt, benchLibvirtSuspend } from './libvirt.ts';
import { benchServe } from './serve.ts';

const only = process.argv.slice(2);
const want = (name: string) => only.length === 0 || only.includes(name);

const rows: Row[] = [];
if (want('startup')) rows.push(...(await benchStartup()));
if (want('boot')) rows.push(...(await benchBoot()));
if (want('nested')) rows.push(...(await benchNested()));
if (want('reset')) rows.push(...(await benchReset()));
if (want('suspend')) rows.push(...(await benchSuspend()));
if (want('chart')) rows.push(...(await benchChart()));
if (want('commands')) rows.push(...(await benchCommands()));
if (want('resume-cli')) rows.push(...(await benchResumeCli()));
if (want('memory')) rows.push(...(await benchMemory()));
if (want('serve')) rows.push(...(await benchServe()));
if (want('libvirt')) rows.push(...(await benchLibvirt()), ...(await benchLibvirtSuspend()));
if (only.includes('debian-nest')) rows.push(...(await benchDebianNest()));
if (only.includes('suspend-debian-nest')) rows.push(...(await benchSuspendDebianNest()));
if (only.includes('resume-cli-debian-nest')) rows.push(...(await benchResumeCliDebianNest()));

const probe = await probeHost();
const header = `Machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, QEMU ${probe.qemu.version}, KVM ${probe.kvm.state}${probe.kvm.state !== 'usable' ? ` (${probe.kvm.reason.split(':')[0]}) → TCG` : ''}. ${new Date().toISOString().slice(0, 16)}Z.`;
const text = `# Benchmark results\n\n${header}\n\n${table(rows)}\n\nEach row: median of the runs, in one process, alternating with its baseline.  \`npm run bench\` to reproduce.\n`;
console.log(text);
if (only.length === 0) writeFileSync(join(PROJECT_ROOT, 'bench/results.md'), text);
else if (only.length === 1 && only[0] === 'debian-nest') writeFileSync(join(PROJECT_ROOT, 'bench/results-debian-nest.md'), text);
else if (only.length === 1 && only[0] === 'serve') writeFileSync(join(PROJECT_ROOT, 'bench/results-serve.md'), text);
