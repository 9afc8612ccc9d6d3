// A Machine with no QEMU behind it, for the logic written once against the seam: boot
// stages, the stop ladder, crash classification.  Its QEMU is a flag; its QMP a function of
// that flag; everything it was asked is recorded in `calls`, so tests assert on the order.
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { KvmVerdict } from '../../tasks/qemu/host-probe.ts';
import { imagesFolderStash, type Machine, type MachineProbe, type QemuRef, type QemuSample } from '../../tasks/machine/machine.ts';
import type { QmpClient } from '../../tasks/qemu/qmp.ts';
import type { Forward } from '../../tasks/spec/tree.ts';

export interface FakeBehaviour {
  /** QEMU exits at start with this code and stderr. */
  refuse?: { code: number; stderr: string };
  /** What QMP query-status answers. */
  qmpStatus?: string;
  /** QMP does not answer at all. */
  qmpDead?: boolean;
  /** The guest powers off on system_powerdown; QEMU exits on quit. */
  honoursPowerdown?: boolean;
  honoursQuit?: boolean;
  /** Signals QEMU survives. */
  survives?: Array<'SIGTERM' | 'SIGKILL'>;
  /** QEMU dies by itself after this many liveness samples. */
  diesAfterSamples?: number;
  /** Ports taken on the machine. */
  taken?: number[];
  kvm?: KvmVerdict;
  /** What the machine lacks. */
  noQemu?: boolean;
  noQemuImg?: boolean;
  /** The guest's kernel panics (on the serial console) in this many boots, then boots. */
  panics?: number;
  /** A machine inside a parent: the parent is lost with this reason once QEMU started there. */
  lost?: string;
  /** The connection to the machine drops under this many liveness samples once QEMU runs (ssh2: "Not connected"). */
  dropsSamples?: number;
  /** What `dmesg` prints there. */
  kernelLog?: string;
}

export class FakeMachine implements Machine {
  private drops = 0;
  readonly readsHostFiles = true;
  readonly stashPath = imagesFolderStash;
  readonly slow = false;
  readonly local = false;
  readonly where = 'on a fake machine';
  readonly installHint = 'install it';
  /** A guest machine when `inside` names the VM it is. */
  readonly at: string;
  readonly home = '/home/fake';
  readonly calls: string[] = [];
  alive = false;
  readonly pid = 4242;
  private samples = 0;
  private starts = 0;

  constructor(
    readonly root: string,
    public b: FakeBehaviour = {},
    readonly inside?: string,
  ) {
    this.at = inside ? ` inside ${inside}` : '';
    if (inside)
      this.lost = async () => {
        this.calls.push('lost?');
        return this.starts > 0 ? this.b.lost : undefined;
      };
  }

  lost?: () => Promise<string | undefined>;

  ref(_lab: unknown, place: { vm: { name: string } }): QemuRef {
    const dir = join(this.root, place.vm.name);
    return {
      name: place.vm.name,
      paths: { dir, qmp: join(dir, 'qmp.sock'), pid: join(dir, 'qemu.pid'), serial: join(dir, 'serial.log'), stderr: join(dir, 'qemu.stderr') },
    };
  }

  async probe(forwards: Forward[] = []): Promise<MachineProbe> {
    const kvm = this.b.kvm ?? { state: 'unusable', reason: 'kvm_pvm: paravirtual KVM', hint: 'tcg' };
    return {
      kvmFacts: { devKvm: 'present', cpuFlags: { vmx: false, svm: false }, modules: ['kvm', 'kvm_pvm'] },
      kvm,
      memoryMiB: 4096,
      cpus: 2,
      qemu: this.b.noQemu ? undefined : '/usr/bin/qemu-system-x86_64',
      qemuImg: !this.b.noQemuImg,
      taken: forwards.filter((f) => this.b.taken?.includes(f.host)).map((forward) => ({ forward, holder: 'pid 1 (fake)' })),
    };
  }

  async sample(_ref: QemuRef, opts: { pid?: number } = {}): Promise<QemuSample> {
    if (this.alive && this.b.dropsSamples && this.drops++ < this.b.dropsSamples) throw new Error('Not connected');
    if (this.alive && this.b.diesAfterSamples !== undefined && ++this.samples > this.b.diesAfterSamples) this.alive = false;
    const alive = this.alive && (opts.pid === undefined || opts.pid === this.pid);
    return { pid: this.alive ? this.pid : undefined, pidfile: this.alive, alive, uptimeS: alive ? 3 : undefined, disks: {} };
  }

  async signal(_ref: QemuRef, pid: number, sig: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    this.calls.push(sig);
    if (!this.alive || pid !== this.pid) return false;
    if (!this.b.survives?.includes(sig)) this.alive = false;
    return true;
  }

  async qmp(): Promise<QmpClient> {
    if (this.b.qmpDead || !this.alive) throw new Error('QMP socket: ECONNREFUSED');
    const fake = {
      execute: async (cmd: string) => {
        this.calls.push(cmd);
        if (cmd === 'query-status') return { status: this.b.qmpStatus ?? 'running', running: true };
        if (cmd === 'system_powerdown' && this.b.honoursPowerdown) this.alive = false;
        if (cmd === 'quit' && this.b.honoursQuit) this.alive = false;
        return {};
      },
      close: () => undefined,
    };
    return fake as unknown as QmpClient;
  }

  async dial(): Promise<Duplex> {
    throw new Error('ECONNREFUSED');
  }

  async tail(file: string): Promise<string> {
    const panicking = this.alive && file.endsWith('serial.log') && this.starts <= (this.b.panics ?? 0);
    return panicking
      ? '[  108.494276]  </ENTRY_TRAMPOLINE>\n[  108.494276] Kernel panic - not syncing: Fatal exception in interrupt\n[  108.494276] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---'
      : '';
  }

  async fileSize(): Promise<number | undefined> {
    return undefined;
  }

  async prepare(): Promise<void> {
    this.calls.push('prepare');
  }

  async start(_ref: QemuRef, args: string[]) {
    this.calls.push('start');
    this.starts++;
    const command = ['qemu-system-x86_64', ...args];
    if (this.b.refuse) return { code: this.b.refuse.code, stderr: this.b.refuse.stderr, command };
    this.alive = true;
    return { code: 0, pid: this.pid, stderr: '', command };
  }

  async cleanRuntime(): Promise<void> {
    this.calls.push('clean');
  }

  async put(): Promise<void> {
    this.calls.push('put');
  }

  async run(argv: string[]): Promise<string> {
    if (argv[0] !== 'dmesg') return '';
    this.calls.push('dmesg');
    return this.b.kernelLog ?? '';
  }
}
