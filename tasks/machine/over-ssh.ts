// A machine reached over one SSH session, where the kit runs QEMU itself: a running guest of
// the lab (its children's QEMUs run inside it), or a libvirt server's host (the libvirt
// launcher reads its QEMUs and files through this).  QMP is reached by direct-tcpip to a
// loopback TCP port (a guest: dropbear forwards no unix sockets) or by streamlocal to the
// unix socket, as the QemuRef says.  Each verb is one exec, written with shell builtins
// (`read`, `case`, `for`) wherever they do: every fork costs milliseconds on a TCG guest's
// emulated CPU, and status and charts call these often.
import { posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { TaskError } from '../util/errors.ts';
import { classifyKvm, type KvmFacts } from '../qemu/host-probe.ts';
import type { Guest } from '../ssh/guest.ts';
import { shellQuote } from '../util/shell-quote.ts';
import { QmpClient } from '../qemu/qmp.ts';
import { pipeFifos } from '../qemu/port-shell.ts';
import { keyValues, listeningPorts } from './shell-output.ts';
import { parseSample, sampleScript } from './guest-sample.ts';
import type { VmPaths } from '../util/paths.ts';
import { VM_FILES } from '../util/paths.ts';
import type { Forward, LabResolved, VmPlace } from '../spec/tree.ts';
import type { VmState } from './record.ts';
import { statSync } from 'node:fs';
import { imagesFolderStash, type Machine, type MachineProbe, type Overlay, type QemuRef, type QemuSample, type SampleOptions } from './machine.ts';

/** The kvm modules a guest loads to offer KVM to its children (modprobe names; insmod file names use dashes). */
export const KVM_MODULES = { common: ['irqbypass', 'kvm'], amd: 'kvm-amd', intel: 'kvm-intel' } as const;

/** A user's home folder on a machine reached over SSH. */
export const homeOf = (user: string) => (user === 'root' ? '/root' : `/home/${user}`);

/** A VM's runtime files in its folder on another machine (posix paths; no local fallback for long socket paths). */
export const filesIn = (dir: string): VmPaths => ({
  dir,
  qmp: `${dir}/${VM_FILES.qmp}`,
  pid: `${dir}/${VM_FILES.pid}`,
  serial: `${dir}/${VM_FILES.serial}`,
  stderr: `${dir}/${VM_FILES.stderr}`,
});

/** What tells one machine over SSH from another: a guest of the lab, or a libvirt server's host. */
export interface SshMachineOptions {
  /** For messages: "inside l1", "on libvirt qemu+ssh://…". */
  where: string;
  /** The VM this machine is, for a guest; undefined for a server. */
  inside?: string;
  /** A guest under TCG, where every fork is emulated. */
  slow: boolean;
  installHint: string;
  /** The QEMU of a place as this machine keeps it. */
  ref: (lab: LabResolved, place: VmPlace, record?: VmState) => QemuRef;
  /** Machine.lost: why this guest is gone, read where its own QEMU runs. */
  lost?: (o?: { answering?: boolean }) => Promise<string | undefined>;
  /**
   * A new session once this one has ended (the lab runtime's pool makes it): a connection the
   * guest's sshd dropped costs the call that met it, not every call after.
   */
  reopen?: () => Promise<Guest>;
}

/** Machine.prepare as one shell command: the VM's folder (0700) with no runtime files, an empty serial log (0600), then the overlays (0600). */
export function prepareScript(ref: QemuRef, overlays: Overlay[]): string {
  const q = (s: string) => shellQuote(s);
  return [
    `mkdir -p ${q(ref.paths.dir)} && chmod 700 ${q(ref.paths.dir)} && rm -f ${q(ref.paths.pid)} ${q(ref.paths.qmp)}`,
    `: > ${q(ref.paths.serial)} && chmod 600 ${q(ref.paths.serial)}`,
    ...overlays.map(
      (o) =>
        `${o.replace ? `rm -f ${q(o.file)}; ` : ''}[ -e ${q(o.file)} ] || { qemu-img create -q -f qcow2${o.backing ? ` -b ${q(o.backing)} -F ${o.backingFormat ?? 'qcow2'}` : ''} ${q(o.file)}${o.size !== undefined ? ` ${o.size}` : ''} && chmod 600 ${q(o.file)}; }`,
    ),
  ].join(' && ');
}

export class SshMachine implements Machine {
  readonly slow: boolean;
  readonly local = false;
  readonly readsHostFiles = false;
  readonly stashPath = imagesFolderStash;
  readonly where: string;
  readonly at: string;
  readonly inside?: string;
  readonly installHint: string;
  readonly home: string;

  readonly lost?: (o?: { answering?: boolean }) => Promise<string | undefined>;
  reconnects = 0;

  constructor(
    private session: Guest,
    private readonly o: SshMachineOptions,
  ) {
    this.slow = o.slow;
    this.where = o.where;
    this.at = ` ${o.where}`;
    this.inside = o.inside;
    this.installHint = o.installHint;
    this.lost = o.lost;
    this.home = homeOf(session.target.user);
  }

  ref(lab: LabResolved, place: VmPlace, record?: VmState): QemuRef {
    return this.o.ref(lab, place, record);
  }

  /** The session, made again first when it has ended and this machine knows how. */
  private async live(): Promise<Guest> {
    if (this.session.closed && this.o.reopen) {
      // Calls that met the ended session at once share the pool's one new session: one reconnect.
      const fresh = await this.o.reopen();
      if (fresh !== this.session) this.reconnects++;
      this.session = fresh;
    }
    return this.session;
  }

  /** One command on the machine, on the live session. */
  private async exec(command: string) {
    return (await this.live()).exec(command);
  }

  /** Loads the guest's kvm modules when it has the CPU flag but no /dev/kvm, then reads what the host probe reads. */
  async probe(forwards: Forward[] = []): Promise<MachineProbe> {
    const script = [
      `f=$(grep -o -w -m1 'vmx\\|svm' /proc/cpuinfo)`,
      `case "$f" in svm) m=${KVM_MODULES.amd};; vmx) m=${KVM_MODULES.intel};; esac`,
      // Kit images carry no modprobe data: insmod from /lib/modules/gc there.
      `if [ -n "$m" ] && [ ! -c /dev/kvm ]; then for x in ${KVM_MODULES.common.join(' ')} $m; do modprobe $x 2>/dev/null || insmod /lib/modules/gc/$x.ko 2>/dev/null; done; fi`,
      'echo "flags=$f"',
      'if [ -c /dev/kvm ]; then [ -r /dev/kvm ] && [ -w /dev/kvm ] && echo devkvm=present || echo devkvm=no-access; else echo devkvm=absent; fi',
      'echo "modules=$(for x in kvm kvm_intel kvm_amd kvm_pvm; do [ -d /sys/module/$x ] && printf "%s " $x; done)"',
      'echo "nested=$(cat /sys/module/kvm_amd/parameters/nested /sys/module/kvm_intel/parameters/nested 2>/dev/null | head -1)"',
      'while read -r k v u; do case $k in MemTotal:) echo "mem=$v";; esac; done < /proc/meminfo',
      'echo "cpus=$(grep -c ^processor /proc/cpuinfo)"',
      'echo "qemu=$(command -v qemu-system-x86_64)"',
      'echo "qemuimg=$(command -v qemu-img)"',
      // Kit images record QEMU's version at build time; elsewhere, ask QEMU.
      'echo "qemuversion=$(cat /etc/gc/qemu-version 2>/dev/null || qemu-system-x86_64 --version 2>/dev/null | sed -n "s/.*version \\([0-9.]*\\).*/\\1/p")"',
      ...(forwards.length
        ? [
            'for t in /proc/net/tcp /proc/net/tcp6; do [ -r $t ] || continue; while read -r sl l r st rest; do if [ "$st" = 0A ]; then echo "listen=$l"; fi; done < $t; done',
          ]
        : []),
    ].join('\n');
    const out = await (await this.live()).succeed(script);
    const kv = keyValues(out);
    const facts: KvmFacts = {
      devKvm: (kv.devkvm as KvmFacts['devKvm']) || 'absent',
      cpuFlags: { vmx: kv.flags === 'vmx', svm: kv.flags === 'svm' },
      modules: (kv.modules ?? '').split(' ').filter(Boolean),
      nestedParam: kv.nested || undefined,
    };
    const listening = listeningPorts(out);
    return {
      kvmFacts: facts,
      kvm: classifyKvm(facts),
      memoryMiB: Math.floor(Number(kv.mem ?? 0) / 1024),
      cpus: Number(kv.cpus) || 1,
      qemu: kv.qemu || undefined,
      qemuVersion: kv.qemuversion || undefined,
      qemuImg: !!kv.qemuimg,
      taken: forwards.filter((f) => f.proto === 'tcp' && listening.has(f.host)).map((forward) => ({ forward })),
    };
  }

  /**
   * One exec: the pidfile (else the given pid), whether it is our QEMU, its RSS and uptime,
   * the /proc readings of a window, and the disks' headers and sizes.
   */
  async sample(ref: QemuRef, opts: SampleOptions = {}): Promise<QemuSample> {
    return parseSample((await this.exec(sampleScript(ref, opts))).stdout, ref, opts);
  }

  /** As on this host: asked first by the one rule (isQemuOf), then signalled. */
  async signal(ref: QemuRef, pid: number, sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    if (!(await this.sample(ref, { pid })).alive) return false;
    return (await this.exec(`kill -${sig.slice(3)} ${pid}`)).code === 0;
  }

  /** QMP on the loopback TCP port the ref names (a guest's child), else on its unix socket (a server's domain). */
  async qmp(ref: QemuRef, timeoutMs = 3000): Promise<QmpClient> {
    const session = await this.live();
    if (ref.qmpPort) return QmpClient.over(await session.forwardOut(ref.qmpPort), `127.0.0.1:${ref.qmpPort} ${this.where}`, timeoutMs);
    return QmpClient.over(await session.forwardOutSocket(ref.paths.qmp), `${ref.paths.qmp} ${this.where}`, timeoutMs);
  }

  async dial(port: number): Promise<Duplex> {
    return (await this.live()).forwardOut(port);
  }

  async tail(file: string, lines: number): Promise<string> {
    return (await this.exec(`tail -n ${lines} ${shellQuote(file)} 2>/dev/null`)).stdout.trimEnd();
  }

  async fileSize(file: string): Promise<number | undefined> {
    const r = await this.exec(`stat -c %s ${shellQuote(file)} 2>/dev/null`);
    return r.code === 0 ? Number(r.stdout.trim()) : undefined;
  }

  async prepare(ref: QemuRef, overlays: Overlay[] = []): Promise<void> {
    const r = await this.exec(prepareScript(ref, overlays));
    if (r.code !== 0)
      throw new TaskError(`could not prepare ${ref.name}'s folder and disks ${this.where}`, {
        exitCode: r.code,
        stdout: r.stdout,
        stderr: r.stderr,
        hint: `is the disk full ${this.where}, or qemu-img missing there?`,
      });
  }

  async start(ref: QemuRef, args: string[]) {
    const q = (s: string) => shellQuote(s);
    const command = ['qemu-system-x86_64', ...args];
    // A pipe chardev (the port shell's) opens FIFOs that must be there: made (or kept) first, owner-only.
    const fifos = pipeFifos(args);
    const r = await this.exec(
      `${fifos.length ? `for f in ${fifos.map(q).join(' ')}; do [ -p "$f" ] || mkfifo -m 600 "$f"; done; ` : ''}${command.map(q).join(' ')} 2>${q(ref.paths.stderr)}; rc=$?; chmod 600 ${q(ref.paths.stderr)} ${q(ref.paths.pid)} 2>/dev/null; cat ${q(ref.paths.pid)} 2>/dev/null; exit $rc`,
    );
    const pid = Number(r.stdout.trim()) || undefined;
    return { code: r.code, pid, stderr: r.code === 0 ? '' : await this.tail(ref.paths.stderr, 20), command };
  }

  async put(local: string, remote: string, opts: { keep?: boolean } = {}): Promise<void> {
    const q = shellQuote;
    const size = statSync(local).size;
    // One exec: make the folder, and say whether a copy of that size is there already.
    const r = await this.exec(`mkdir -p ${q(posix.dirname(remote))} && { [ "$(stat -c %s ${q(remote)} 2>/dev/null)" = ${size} ] && echo same || echo copy; }`);
    if (r.code !== 0) throw new TaskError(`cannot make ${posix.dirname(remote)} ${this.where}`, { stderr: r.stderr });
    if (opts.keep && r.stdout.trim() === 'same') return;
    // Written beside, then renamed: a copy cut short is never taken for a whole one.
    await (await this.live()).put(local, `${remote}.part`);
    await this.run(['sh', '-c', `chmod 600 "$1" && mv -f "$1" "$2"`, 'sh', `${remote}.part`, remote]);
  }

  async cleanRuntime(ref: QemuRef): Promise<void> {
    await this.exec(`rm -f ${shellQuote(ref.paths.pid)} ${shellQuote(ref.paths.qmp)}`);
  }

  async run(argv: string[]): Promise<string> {
    const r = await this.exec(argv.map(shellQuote).join(' '));
    if (r.code !== 0) throw new TaskError(`${argv[0]} failed ${this.where}`, { command: argv, exitCode: r.code, stdout: r.stdout, stderr: r.stderr });
    return r.stdout;
  }
}
