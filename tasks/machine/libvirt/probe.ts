// What libvirt offers on this host, for `doctor`: virsh, whether libvirtd answers on
// qemu:///system (its versions), the kit's pool, and /dev/kvm's group (root-only, libvirt 9.0
// probes QEMU forever: scripts/setup-host.sh).  Asked, never started: a probe changes nothing.
import { statSync } from 'node:fs';
import { run } from '../../util/exec.ts';
import { POOL } from './pool.ts';

export const SYSTEM_URI = 'qemu:///system';

export interface LibvirtProbe {
  uri: string;
  /** virsh is installed. */
  virsh: boolean;
  /** libvirtd's version when it answered; else why not. */
  daemon?: string;
  hypervisor?: string;
  error?: string;
  /** The kit's pool: its state, or undefined when not defined yet. */
  pool?: string;
  /** /dev/kvm is root's alone (no udev gave it to group kvm). */
  kvmRootOnly: boolean;
}

export async function probeLibvirt(uri = SYSTEM_URI): Promise<LibvirtProbe> {
  const kvm = statSync('/dev/kvm', { throwIfNoEntry: false });
  const kvmRootOnly = !!kvm && kvm.gid === 0 && (kvm.mode & 0o060) === 0;
  const virsh = (args: string[]) => run(['virsh', '-c', uri, ...args], { timeoutMs: 10_000 });
  const version = await virsh(['version']).catch((err: { stderr?: string; message: string }) => err);
  if (!('stdout' in version)) {
    const missing = /ENOENT/.test(version.message);
    return { uri, virsh: !missing, error: missing ? 'virsh not found' : (version.stderr || version.message).trim().split('\n')[0], kvmRootOnly };
  }
  const pool = await virsh(['pool-info', POOL]).then(
    (r) => /^State:\s+(\S+)/m.exec(r.stdout)?.[1],
    () => undefined,
  );
  return {
    uri,
    virsh: true,
    daemon: /Using library: libvirt (\S+)/.exec(version.stdout)?.[1],
    hypervisor: /Running hypervisor: (.+)/.exec(version.stdout)?.[1]?.trim(),
    pool,
    kvmRootOnly,
  };
}
