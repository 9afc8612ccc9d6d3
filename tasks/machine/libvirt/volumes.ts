// The kit's files as volumes of its libvirt pool: images uploaded with vol-upload (over
// libvirt's own connection, so a server needs no other way in), root overlays made by
// vol-create on them, each replaced or dropped by name.
import { statSync } from 'node:fs';
import type { TaskError } from '../../util/errors.ts';
import type { Overlay } from '../machine.ts';
import { POOL, poolDir, type Virsh, withXmlFile } from './pool.ts';
import { volumeAt, volumeXml } from './xml.ts';

export class PoolVolumes {
  /** `poolReady` makes sure the pool is defined and started before a volume is made. */
  constructor(
    private readonly virsh: Virsh,
    private readonly poolReady: () => Promise<void>,
  ) {}

  /**
   * Machine.put for a file that belongs in the pool (directly in its folder): copied there as
   * its volume, unless `keep` and `sizeThere` (the machine that keeps the files says) is the
   * local file's.  False for a file elsewhere, which the machine copies itself.
   */
  async put(local: string, remote: string, keep: boolean | undefined, sizeThere: () => Promise<number | undefined>): Promise<boolean> {
    const volume = volumeAt(remote, poolDir());
    if (!volume) return false;
    if (!keep || (await sizeThere()) !== statSync(local).size) await this.upload(local, volume);
    return true;
  }

  /**
   * Copies a local file there as a volume of the pool, over libvirt's own connection
   * (`vol-upload`: a server needs no other way in).  The volume starts empty and grows with
   * what arrives, so one cut short is smaller than its file, and put's size check sends
   * it again.
   */
  private async upload(local: string, volume: string): Promise<void> {
    await this.poolReady();
    await this.clear(volume);
    await this.virsh(['vol-create-as', POOL, volume, '0', '--format', 'raw']);
    await this.virsh(['vol-upload', '--pool', POOL, volume, local], 1_800_000);
  }

  /**
   * Makes ref's `overlays` that belong in the pool (directly in its folder) as volumes, each
   * backed by its image's volume, when missing (`present` asks the machine that keeps the
   * files) or to be replaced; returns the others, plain files the machine makes itself.
   */
  async makeOverlays(overlays: Overlay[], present: (file: string) => Promise<boolean>, replaced: () => Promise<void>): Promise<Overlay[]> {
    const files: Overlay[] = [];
    for (const o of overlays) {
      const volume = volumeAt(o.file, poolDir());
      if (!volume) files.push(o);
      else if (o.replace || !(await present(o.file))) {
        await this.makeOverlay(o, volume);
        // The snapshots were inside the volume it replaced (or lost): libvirt's list of them goes too.
        await replaced();
      }
    }
    return files;
  }

  private async makeOverlay(o: Overlay, volume: string): Promise<void> {
    await this.poolReady();
    await this.clear(volume);
    // Capacity 0 makes it as big as its image, as qemu-img does; a size grows it past that (a cloud VM's).
    const xml = volumeXml({
      name: volume,
      capacityBytes: o.size ?? 0,
      backing: o.backing ? { path: o.backing, format: o.backingFormat ?? 'qcow2' } : undefined,
    });
    await withXmlFile(xml, (file) => this.virsh(['vol-create', POOL, file]));
  }

  /**
   * Makes room for a new volume of that name: deletes the one there.  A file libvirt has not
   * listed (made or removed behind its back) would refuse the name, so when libvirt knows none
   * the pool is listed again and asked once more.
   */
  private async clear(volume: string): Promise<void> {
    if (!(await this.drop(volume))) {
      await this.virsh(['pool-refresh', POOL]);
      await this.drop(volume);
    }
  }

  /** Deletes a volume of the pool: true when it did; one libvirt does not list is no error. */
  async drop(volume: string): Promise<boolean> {
    return this.virsh(['vol-delete', '--pool', POOL, volume]).then(
      () => true,
      (err: TaskError) => {
        if (!/not found|no storage vol/i.test(err.stderr ?? '')) throw err;
        return false;
      },
    );
  }
}
