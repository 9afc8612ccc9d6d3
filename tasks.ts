// The task registry: thin data, one entry per task, each importing its module only when
// it runs, so listing tasks loads no ssh2, listr2 or zx.  Run: npx tsx tasks.ts [TASK] [--help]
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { main } from './tasks/cli/main.ts';
import type { TaskDef } from './tasks/cli/registry.ts';
import { refuseStaleLean, runningLean } from './tasks/util/kit-entry.ts';
import { exitCodeOf, formatError } from './tasks/util/errors.ts';

const lab = { name: 'LAB', doc: 'a lab name from specs/, or a spec file; - reads names from stdin', stdin: true };
// A lab named, or the --spec one: one of the two is needed.
const labOrSpec = { ...lab, orSpec: true };
const vm = { name: 'VM', doc: 'a VM name from any lab in specs/ (or the --spec/--lab one); - reads names from stdin', stdin: true };
const labOpt = { name: 'lab', type: 'string', value: 'LAB', doc: 'the lab to look the VM up in, when names clash' } as const;
// Kept here, not imported from tasks/cmd/lab/charts.ts, so listing tasks loads no chart code.
const chartFlags = [
  { name: 'ascii', type: 'boolean', doc: 'ASCII only (#, -, |, +) for terminals without Unicode' },
  { name: 'width', type: 'string', value: 'COLUMNS', doc: 'columns to fit (default: the terminal’s, else 80)' },
] as const;

export const tasks: TaskDef[] = [
  {
    name: 'tasks',
    withoutLab: true,
    doc: 'List the tasks',
    run: async (ctx) => (await import('./tasks/cmd/list.ts')).run(ctx, tasks),
  },
  {
    name: 'demo',
    doc: 'Bring the demo lab up (host → L1 → L2), run uname -a in every layer, chart it, bring it down',
    depends: ['-setup'],
    run: async (ctx) => (await import('./tasks/cmd/lab/demo.ts')).run(ctx),
  },
  {
    name: '-setup',
    withoutLab: true,
    doc: 'installs with apt-get (as root, or through sudo) whatever is missing of QEMU, qemu-img, cpio, e2fsprogs and iproute2 (scripts/setup-host.sh); when all is there it only looks',
    run: async (ctx) => (await import('./tasks/cmd/setup.ts')).run(ctx),
  },
  {
    name: 'spec',
    doc: 'Check a lab spec and show it: its VMs as a tree, or with --json the whole lab with every default filled in (accepted back by --spec -)',
    args: [labOrSpec],
    run: async (ctx) => (await import('./tasks/cmd/lab/spec.ts')).run(ctx),
  },
  {
    name: 'schema',
    withoutLab: true,
    doc: 'Print the JSON Schema of a spec or of a task’s --json output: spec, status, stats, snapshots',
    args: [{ name: 'NAME', doc: 'spec, status, stats or snapshots (none: list them)', optional: true }],
    options: [{ name: 'markdown', type: 'boolean', doc: 'a Markdown table, a row per field (docs/spec.md holds the spec’s)' }],
    run: async (ctx) => (await import('./tasks/cmd/schema.ts')).run(ctx),
  },
  {
    name: 'labs',
    withoutLab: true,
    doc: 'List the labs in specs/',
    run: async (ctx) => (await import('./tasks/cmd/lab/spec.ts')).runLabs(ctx),
  },
  {
    name: 'doctor',
    withoutLab: true,
    doc: 'Check this host: QEMU, qemu-img, KVM usability, nesting, memory and disk',
    run: async (ctx) => (await import('./tasks/cmd/doctor.ts')).run(ctx),
  },
  {
    name: 'image',
    withoutLab: true,
    doc: 'Build a kit image from Debian packages (cached by content hash): tiny (default), tiny-nest, debian (mmdebstrap, systemd, OpenSSH, cloud-init), or debian-nest (debian plus QEMU, to run children)',
    args: [{ name: 'NAME', doc: 'tiny, tiny-nest, debian or debian-nest', optional: true }],
    options: [{ name: 'force', type: 'boolean', doc: 'rebuild even when the cache has it' }],
    run: async (ctx) => (await import('./tasks/cmd/image.ts')).run(ctx),
  },
  {
    name: 'boot',
    doc: 'Boot a VM on its machine (this host, or inside its running parent) and wait until SSH answers (staged readiness with timeouts and hints)',
    args: [vm],
    options: [
      labOpt,
      { name: 'timeout', type: 'string', value: 'SECONDS', doc: 'seconds for the whole boot (default: 180 under TCG, 90 under KVM)' },
      { name: 'keep', type: 'boolean', doc: 'leave QEMU running when the boot fails, for debugging' },
      { name: 'fresh', type: 'boolean', doc: 'a new root disk from the current image (the guest’s changes are lost)' },
      { name: 'yes', type: 'boolean', doc: 'boot a suspended VM cold without asking (its saved state is left behind)' },
    ],
    run: async (ctx) => (await import('./tasks/cmd/vm/boot.ts')).boot(ctx),
  },
  {
    name: 'install',
    doc: 'Boot a VM from an installer ISO (CD first, once; then its disk) with a screen: GTK where there is a display, else VNC on 127.0.0.1',
    args: [vm],
    options: [labOpt, { name: 'iso', type: 'string', value: 'FILE', doc: 'the installer ISO' }],
    run: async (ctx) => (await import('./tasks/cmd/vm/install.ts')).install(ctx),
  },
  {
    name: 'stop',
    doc: 'Stop a VM: ACPI power-off, then QMP quit, then signals to its own QEMU only',
    args: [vm],
    options: [
      labOpt,
      { name: 'force', type: 'boolean', doc: 'skip the graceful power-off' },
      { name: 'timeout', type: 'string', value: 'SECONDS', doc: 'seconds to wait for the guest to power off (default 10)' },
      { name: 'yes', type: 'boolean', doc: 'a suspended VM: discard its lab’s saved state without asking' },
    ],
    run: async (ctx) => (await import('./tasks/cmd/vm/boot.ts')).stop(ctx),
  },
  {
    name: 'up',
    doc: 'Bring a whole lab up: parents first, children inside them; running VMs are kept, a suspended lab resumes',
    args: [labOrSpec],
    options: [
      {
        name: 'from',
        type: 'string',
        value: 'SNAPSHOT',
        doc: 'start the stopped lab from this lab-wide live snapshot (made with `snapshot LAB` while it ran)',
      },
      {
        name: 'cold',
        type: 'boolean',
        doc: 'boot a suspended lab cold (a save by snapshot stays as a snapshot; a libvirt managed save or saved devices cannot, and are discarded after a yes)',
      },
      { name: 'yes', type: 'boolean', doc: 'with --from, or --cold on libvirt, on a suspended lab: discard its saved state without asking' },
      {
        name: 'fresh',
        type: 'boolean',
        doc: 'every VM it boots gets a new root disk from the image its spec names (what the guests wrote is lost; running VMs are kept)',
      },
    ],
    run: async (ctx) => (await import('./tasks/cmd/lab/lab.ts')).up(ctx),
  },
  {
    name: 'down',
    doc: 'Bring a whole lab down, children first; nothing is left running',
    args: [labOrSpec],
    options: [
      { name: 'force', type: 'boolean', doc: 'skip the graceful power-offs' },
      { name: 'yes', type: 'boolean', doc: 'a suspended lab: discard its saved state without asking' },
      {
        name: 'undefine',
        type: 'boolean',
        doc: 'libvirt VMs: also undefine their domains and remove their disks from the pool (down alone keeps them defined)',
      },
    ],
    run: async (ctx) => (await import('./tasks/cmd/lab/lab.ts')).down(ctx),
  },
  {
    name: 'suspend',
    doc: 'Save a running lab whole (each top-level VM live, its children inside it, named by graintime; a VM on libvirt by libvirt’s managed save) and end its QEMUs; resume brings it back in seconds',
    args: [labOrSpec],
    run: async (ctx) => (await import('./tasks/cmd/lab/suspend.ts')).suspend(ctx),
  },
  {
    name: 'resume',
    doc: 'Start a suspended lab from its saved state: every layer runs again with the same pids, ports and host keys; clocks set from the host',
    args: [labOrSpec],
    options: [
      {
        name: 'keep',
        type: 'boolean',
        doc: 'keep the saved state as a snapshot after a good resume (not a libvirt managed save, which libvirt removes once loaded)',
      },
    ],
    run: async (ctx) => (await import('./tasks/cmd/lab/suspend.ts')).resume(ctx),
  },
  {
    name: 'nest',
    doc: 'Boot a child VM inside its running parent (KVM inside when the parent offers it)',
    args: [
      { name: 'PARENT', doc: 'the running parent VM' },
      { name: 'CHILD', doc: 'its child in the spec' },
    ],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/cmd/lab/lab.ts')).nest(ctx),
  },
  {
    name: 'ssh-config',
    doc: 'Print an OpenSSH config for a lab (ProxyJump for nested VMs, pinned host keys)',
    args: [labOrSpec],
    run: async (ctx) => (await import('./tasks/cmd/lab/lab.ts')).sshConfigTask(ctx),
  },
  {
    name: 'chart-vm',
    doc: 'Chart a VM’s live resources (CPU, memory, disk, network) as bars; a lab name charts every VM',
    args: [{ name: 'VM|LAB', doc: 'a VM, or a lab for one card per VM grouped by layer; - reads names from stdin', optional: true, stdin: true }],
    options: [
      labOpt,
      ...chartFlags,
      { name: 'sample-ms', type: 'string', value: 'MS', doc: 'milliseconds between the two CPU readings (default 250; 50 to 10000)' },
      { name: 'no-agent', type: 'boolean', doc: 'sample on fresh SSH sessions; neither ask nor leave the lab’s background lab agent' },
    ],
    help: 'The first chart of a running lab leaves a lab agent behind (one background process per lab, like OpenSSH’s ControlPersist) that keeps the SSH sessions open, so later charts skip the handshakes. It ends after 10 minutes idle (GRAINCHART_AGENT_IDLE_S), when the lab is down, or with `down`; GRAINCHART_AGENT=0 turns it off.',
    run: async (ctx) => (await import('./tasks/cmd/lab/chart-vm.ts')).run(ctx),
  },
  {
    name: 'lab-agent',
    doc: 'Keep a lab’s SSH sessions open and answer chart-vm on the lab’s socket (started by chart-vm)',
    hidden: true,
    args: [{ name: 'LAB', doc: 'a lab name from specs/, or the name of the --spec FILE lab' }],
    run: async (ctx) => (await import('./tasks/agent/server.ts')).run(ctx),
  },
  {
    name: 'watch',
    doc: 'Refresh a lab’s live CPU and memory every few seconds, with a minute of sparklines',
    args: [labOrSpec],
    options: [
      { name: 'interval', type: 'string', value: 'SECONDS', doc: 'seconds between samples (default 2)' },
      { name: 'count', type: 'string', value: 'N', doc: 'stop after this many samples (default: until Ctrl-C)' },
      { name: 'ascii', type: 'boolean', doc: 'ASCII only' },
    ],
    help: 'With --json: one JSON object per sample (JSON Lines), for pipelines.',
    run: async (ctx) => (await import('./tasks/cmd/lab/watch.ts')).run(ctx),
  },
  {
    name: 'serve',
    doc: 'Serve a live dashboard of the lab in the browser, and its figures for Prometheus (/metrics), on 127.0.0.1',
    args: [labOrSpec],
    options: [
      { name: 'port', type: 'string', value: 'N', doc: 'the port on 127.0.0.1 (default: a free one)' },
      { name: 'interval', type: 'string', value: 'SECONDS', doc: 'seconds between readings, 1 to 10 (default 1.5)' },
    ],
    help: [
      'Prints the URL to open as its first line (with a token: every request without it is refused),',
      'then serves until Ctrl-C or SIGTERM. /metrics takes the token as ?token= or Authorization: Bearer.',
      'From another machine: ssh -L 8080:127.0.0.1:PORT HOST, then open the URL with port 8080.',
      'With --json: {url, token, port} as the first line.',
    ].join('\n'),
    run: async (ctx) => (await import('./tasks/cmd/lab/serve.ts')).run(ctx),
  },
  {
    name: 'tree',
    doc: 'Chart the lab’s hierarchy: host → guests → nested, with live state, accelerator, SSH',
    args: [labOrSpec],
    options: [...chartFlags],
    run: async (ctx) => (await import('./tasks/cmd/lab/charts.ts')).tree(ctx),
  },
  {
    name: 'alloc',
    doc: 'Chart what each VM is given of the host’s memory, CPUs and disk; warns on overcommit',
    args: [labOrSpec],
    options: [...chartFlags],
    run: async (ctx) => (await import('./tasks/cmd/lab/charts.ts')).alloc(ctx),
  },
  {
    name: 'topology',
    doc: 'Chart the lab’s network: user-mode NAT per VM, forwards, nested VMs behind their parent',
    args: [labOrSpec],
    options: [...chartFlags],
    run: async (ctx) => (await import('./tasks/cmd/lab/charts.ts')).topology(ctx),
  },
  {
    name: 'status',
    doc: 'Every VM of a lab (or of all labs) with state, accelerator, pid, ports, uptime, boot times',
    args: [{ ...lab, doc: 'a lab name from specs/ (none: every lab there); - reads names from stdin', optional: true }],
    run: async (ctx) => (await import('./tasks/cmd/lab/status.ts')).status(ctx),
  },
  {
    name: 'list',
    doc: 'Every VM of every lab, as status shows them',
    run: async (ctx) => (await import('./tasks/cmd/lab/status.ts')).status(ctx),
  },
  {
    name: 'exec',
    doc: 'Run a command in a VM over SSH; streams output and exits with its code',
    args: [vm, { name: 'CMD', doc: 'after --: the command (one word is a shell snippet, several an argv)', variadic: true }],
    options: [labOpt],
    help: 'Example: npx tsx tasks.ts exec l1 -- uname -a',
    run: async (ctx) => (await import('./tasks/cmd/vm/exec.ts')).exec(ctx),
  },
  {
    name: 'run-in',
    doc: 'Copy a local script into a VM over SFTP and run it there (any interpreter the guest has), streaming its output; exits with its code',
    args: [vm, { name: 'SCRIPT', doc: 'after --: the local script, then its arguments', variadic: true }],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/cmd/vm/run-in.ts')).runIn(ctx),
  },
  {
    name: 'ssh',
    doc: 'A shell in a VM (a pty on a terminal; otherwise commands from stdin)',
    args: [vm],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/cmd/vm/ssh.ts')).ssh(ctx),
  },
  {
    name: 'cp',
    doc: 'Copy a file into or out of a VM over SFTP: cp ./file VM:/path or cp VM:/path ./file',
    args: [
      { name: 'SRC', doc: 'a local path or VM:path' },
      { name: 'DST', doc: 'a local path or VM:path' },
    ],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/cmd/vm/cp.ts')).cp(ctx),
  },
  {
    name: 'explain',
    doc: 'Show the QEMU command line a VM boots with, section by section: what each part does and why this value',
    args: [vm],
    options: [labOpt, { name: 'shell', type: 'boolean', doc: 'print it as a command line to paste into sh, every word quoted' }, ...chartFlags],
    run: async (ctx) => (await import('./tasks/cmd/vm/explain.ts')).run(ctx),
  },
  {
    name: 'libvirt-xml',
    doc: 'Print the libvirt domain a top-level VM would be, from the same plan as its QEMU command line (to virsh define yourself)',
    args: [vm],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/cmd/vm/libvirt-xml.ts')).run(ctx),
  },
  {
    name: 'nix-config',
    doc: 'Render a NixOS guest’s configuration.nix from its spec into nix/VM/ (SSH with the lab key, nesting, Sway, stateVersion)',
    args: [vm],
    options: [labOpt, { name: 'out', type: 'string', value: 'DIR', doc: 'the folder to write VM/configuration.nix in (default nix/)' }],
    run: async (ctx) => (await import('./tasks/cmd/vm/nix-config.ts')).run(ctx),
  },
  {
    name: 'doc',
    doc: 'Write a report of the lab to docs/labs/LAB.md and a self-contained LAB.html: tree, allocation, network, parameters flows, snapshots, live stats',
    args: [labOrSpec],
    options: [{ name: 'out', type: 'string', value: 'DIR', doc: 'the folder to write to (default docs/labs)' }],
    run: async (ctx) => (await import('./tasks/cmd/lab/doc.ts')).run(ctx),
  },
  {
    name: 'smoke',
    doc: 'CI smoke test: up the lab, snapshot a golden state, run every check in the spec layer by layer, then down (always)',
    args: [labOrSpec],
    options: [
      { name: 'reuse', type: 'boolean', doc: 'use the running lab (boot only what is down) and leave it up afterwards' },
      { name: 'reset', type: 'boolean', doc: 'put each VM back to the golden snapshot before its suite' },
      { name: 'junit', type: 'string', value: 'FILE', doc: 'write JUnit XML to FILE: one testsuite per VM, one testcase per check' },
      { name: 'tap', type: 'boolean', doc: 'print TAP version 13 on stdout' },
      { name: 'html', type: 'string', value: 'FILE', doc: 'write the lab report (as `doc` makes it) to FILE, each check’s result on its VM' },
      {
        name: 'from',
        type: 'string',
        value: 'SNAPSHOT',
        doc: 'start the stopped lab from this lab-wide live snapshot (the golden state; kept, and --reset goes back to it)',
      },
    ],
    help: 'Checks live in the spec: host.checks (commands run on the host) and checks on each VM: built-ins "ssh", "kvm", "disk", "child-reachable", or {name, run, expect?: {exitCode?, stdout?: regex, within?: seconds}}.  Exit 0 only when every check passes.',
    run: async (ctx) => (await import('./tasks/cmd/lab/smoke.ts')).smoke(ctx),
  },
  {
    name: 'snapshot',
    doc: 'Snapshot a VM or every VM of a lab (live with VM state when running, qemu-img when stopped); named by graintime',
    args: [{ name: 'VM|LAB', doc: 'a VM, or a lab for all its VMs under one name (nested ones inside their parent); - reads names from stdin', stdin: true }],
    options: [labOpt, { name: 'name', type: 'string', value: 'NAME', doc: 'the snapshot’s name (default: the graintime stamp of now)' }],
    run: async (ctx) => (await import('./tasks/cmd/lab/snapshot.ts')).snapshot(ctx),
  },
  {
    name: 'snapshots',
    doc: 'List the snapshots of a VM or a lab: name, graintime decoded, VM-state size, disk size, age',
    args: [{ name: 'VM|LAB', doc: 'a VM, or a lab (a table and a tree); - reads names from stdin', stdin: true }],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/cmd/lab/snapshot.ts')).snapshots(ctx),
  },
  {
    name: 'restore',
    doc: 'Restore a VM or a lab to a snapshot (live when running; asks first: the current state is replaced)',
    args: [
      { name: 'VM|LAB', doc: 'a VM, or a lab (parents first, then the VMs inside them); - reads names from stdin', stdin: true },
      { name: 'NAME', doc: 'the snapshot' },
    ],
    options: [
      labOpt,
      { name: 'yes', type: 'boolean', doc: 'do not ask; replace the current state' },
      { name: 'keep-current', type: 'boolean', doc: 'snapshot the current state first (under the graintime of now), then restore' },
    ],
    run: async (ctx) => (await import('./tasks/cmd/lab/snapshot.ts')).restore(ctx),
  },
  {
    name: 'snapshot-rm',
    doc: 'Remove a snapshot from a VM (or from every VM of a lab that has it)',
    args: [
      { name: 'VM|LAB', doc: 'a VM or a lab; - reads names from stdin', stdin: true },
      { name: 'NAME', doc: 'the snapshot' },
    ],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/cmd/lab/snapshot.ts')).snapshotRm(ctx),
  },
  {
    name: 'graintime',
    withoutLab: true,
    doc: 'Print the graintime stamp (date and sky) for now or --at an instant; `graintime parse STAMP` checks one',
    args: [
      { name: 'parse', doc: 'the word parse, to check a stamp instead', optional: true },
      { name: 'STAMP', doc: 'the stamp to check', optional: true },
    ],
    options: [
      { name: 'at', type: 'string', value: 'ISO-8601', doc: 'the instant, ISO-8601 (default: now)' },
      { name: 'lat', type: 'string', value: 'DEGREES', doc: 'latitude in degrees north (default: config, GRAINTIME_LAT, 37.9735)' },
      { name: 'lon', type: 'string', value: 'DEGREES', doc: 'longitude in degrees east (default: config, GRAINTIME_LON, -122.5311)' },
      { name: 'tz', type: 'string', value: 'ZONE', doc: 'IANA time zone (default: config, GRAINTIME_TZ, America/Los_Angeles)' },
      { name: 'author', type: 'string', value: 'WORD', doc: 'the stamp’s last word (default: config, GRAINTIME_AUTHOR, $USER)' },
    ],
    help: 'Config file: $GRAINTIME_CONFIG or ~/.config/grainchart/graintime.json, e.g. {"latitude": 52.52, "longitude": 13.40, "timeZone": "Europe/Berlin", "author": "ada"}',
    run: async (ctx) => (await import('./tasks/cmd/graintime.ts')).run(ctx),
  },
  {
    name: 'disk-create',
    doc: "Create a VM's disk image with qemu-img (size, format, backing file from the spec)",
    args: [vm],
    options: [labOpt, { name: 'force', type: 'boolean', doc: 'replace an existing image (its data is lost)' }],
    run: async (ctx) => (await import('./tasks/cmd/vm/disk.ts')).create(ctx),
  },
  {
    name: 'disk-info',
    doc: "Show a VM's disk image (qemu-img info; works while the VM runs)",
    args: [vm],
    options: [labOpt],
    run: async (ctx) => (await import('./tasks/cmd/vm/disk.ts')).info(ctx),
  },
];

// Run as the program (through a symlink too), not when a test imports the registry.  The
// compiled copy (build/js, `npm run build`) refuses to run when a source is newer than it.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  if (runningLean()) {
    try {
      refuseStaleLean();
    } catch (err) {
      process.stderr.write(`${formatError(err)}\n`);
      process.exit(exitCodeOf(err));
    }
  }
  await main(tasks);
}
