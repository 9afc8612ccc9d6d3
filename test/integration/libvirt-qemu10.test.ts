// A lab on this host's libvirtd run by a QEMU unpacked into a folder (10.0 from bookworm-
// backports, beside the system's 7.2): host.qemu is the domain's <emulator>, through a wrapper
// in the pool that names its own modules (libvirt gives an emulator no environment, and its
// probe of the bare binary aborts on 7.2's modules), its firmware folders as -L.  libvirt runs
// QEMU as its own user, so a tree under /root is refused before anything is defined (exit 2).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { freePort } from '../helpers/vm.ts';
import { specLab } from '../helpers/spec-lab.ts';

const DOMAIN = 'grainchart-lvq10-v';
const virsh = (...args: string[]) => spawnSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });

describe('a libvirt lab on a QEMU unpacked into a folder (host.qemu)', () => {
  let unpacked = '';
  let copy = '';
  const lab = specLab('gc-lvq10-', async () => {
    unpacked = execFileSync('bash', [join(PROJECT_ROOT, 'scripts/unpack-qemu.sh'), '--quiet'], { encoding: 'utf8' }).trim();
    // Where libvirt's QEMU user may reach it: the same files (hard links) in a folder every user may walk.
    copy = mkdtempSync('/tmp/gc-qemu10-');
    chmodSync(copy, 0o755);
    execFileSync('cp', ['-al', `${join(unpacked, '../../..')}/.`, copy]);
    return {
      name: 'lvq10',
      host: { libvirt: { uri: 'qemu:///system' }, qemu: join(copy, 'usr/bin/qemu-system-x86_64') },
      vms: [{ name: 'v', boot: { image: 'tiny' }, vga: 'none', cpus: 1, memory: 512, network: { sshPort: await freePort() } }],
    };
  });
  const { k, ok } = lab;
  after(() => {
    virsh('destroy', DOMAIN);
    virsh('undefine', DOMAIN);
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  it('a QEMU libvirt’s user cannot reach is refused before anything is defined, naming host.qemu', () => {
    const spec = JSON.parse(readFileSync(lab.spec, 'utf8'));
    const under = join(lab.home, 'under-root.json');
    writeFileSync(under, JSON.stringify({ ...spec, host: { ...spec.host, qemu: unpacked } }));
    const r = spawnSync('npx', ['tsx', join(PROJECT_ROOT, 'tasks.ts'), '--spec', under, 'up'], { encoding: 'utf8', env: { ...process.env, ...lab.env } });
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`host\\.qemu: libvirt runs its QEMU as the owner of /var/lib/libvirt/qemu, who cannot reach ${unpacked.replaceAll('.', '\\.')}`),
    );
    assert.match(r.stderr, /hint: put that QEMU where every user may read and run it/);
    assert.notEqual(virsh('domstate', DOMAIN).status, 0, 'no domain defined');
  });

  it('up runs the domain on that QEMU, with its firmware and modules; a command runs; down --undefine removes it', () => {
    ok(k('up'));
    const xml = virsh('dumpxml', DOMAIN).stdout;
    const emulator = /<emulator>([^<]+)<\/emulator>/.exec(xml)?.[1] ?? '';
    assert.notEqual(emulator, '');
    const wrapper = readFileSync(emulator, 'utf8');
    assert.match(wrapper, new RegExp(`QEMU_MODULE_DIR=${join(copy, 'usr/lib/x86_64-linux-gnu/qemu')} exec ${join(copy, 'usr/bin/qemu-system-x86_64')} "\\$@"`));
    assert.match(xml, new RegExp(`<qemu:arg value='-L'/>\\s*<qemu:arg value='${join(copy, 'usr/share/qemu')}'/>`));
    const pid = Number(readFileSync(`/run/libvirt/qemu/${DOMAIN}.pid`, 'utf8'));
    assert.equal(readlinkSync(`/proc/${pid}/exe`), join(copy, 'usr/bin/qemu-system-x86_64'));
    assert.match(xml, /machine='pc-q35-10\.0'/, 'q35 as that QEMU resolves it, pinned');
    assert.equal(ok(k('exec', 'v', '--', 'hostname')).stdout.trim(), 'v');
    ok(k('down', '--undefine'));
    assert.notEqual(virsh('domstate', DOMAIN).status, 0);
    assert.ok(existsSync(emulator), 'the wrapper stays for the next lab on that QEMU');
    rmSync(emulator); // this suite's QEMU folder goes with it
  });
});
