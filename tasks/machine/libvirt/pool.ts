// The kit's libvirt pool as every libvirt file names it: its name and folder, the volumes'
// names, libvirt's own folders and log; and how virsh is handed an XML document.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../util/exec.ts';

/** virsh on one connection. */
export type Virsh = (args: string[], timeoutMs?: number) => Promise<RunResult>;

/** The storage pool the kit's files go in, by that name in virsh and virt-manager. */
export const POOL = 'grainchart';

/** The pool's folder: in libvirt's own images folder, which its QEMU user may walk. */
export const poolDir = (env: NodeJS.ProcessEnv = process.env) => env.GRAINCHART_LIBVIRT_DIR || '/var/lib/libvirt/images/grainchart';

/** libvirt's per-domain folder belongs to the user it runs QEMU as (qemu.conf's `user`). */
export const QEMU_HOME = '/var/lib/libvirt/qemu';

/** A VM's root overlay as a volume of the pool: named after its domain, so virt-manager lists the two side by side. */
export const rootVolume = (domain: string) => `${domain}-root.qcow2`;

/** A file of the kit's image cache (or another of this host's image folders) as a volume: its folder's name, then its own. */
export const imageVolume = (folder: string, file: string) => `${folder}--${file}`;

/** The image folder an image volume came from (imageVolume's first part); undefined for any other file. */
export const folderOfVolume = (volume: string): string | undefined => (volume.includes('--') ? volume.slice(0, volume.indexOf('--')) : undefined);

/** The pool as a domain names its volumes (libvirt-xml's `pool` option). */
export const kitPool = () => ({ name: POOL, dir: poolDir() });

/** QEMU's stderr for a domain: libvirt's log of it. */
export const domainLog = (domain: string) => `/var/log/libvirt/qemu/${domain}.log`;

export const START_HINT =
  'start it: bash scripts/setup-host.sh --libvirt (installs libvirt-daemon-system, and starts virtlogd and libvirtd where there is no systemd)';

/** virsh reads an XML document from a file: written for it (0600) and removed after. */
export async function withXmlFile<T>(xml: string, f: (file: string) => Promise<T>): Promise<T> {
  const tmp = mkdtempSync(join(tmpdir(), 'gc-xml-'));
  try {
    writeFileSync(join(tmp, 'doc.xml'), xml, { mode: 0o600 });
    return await f(join(tmp, 'doc.xml'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
