// install: a VM started from an installer ISO — CD first once, then its disk — with VNC on
// 127.0.0.1 whose port is printed, BIOS or UEFI (a per-VM qcow2 copy of OVMF's variables).
// The ISO here is not bootable: the firmware gives up on it and on the empty disk, which is
// all this test needs of it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kit } from '../helpers/cli.ts';
import { qemusUnder, tinyLab, type TestLab } from '../helpers/vm.ts';

describe('install from an ISO', () => {
  let lab: TestLab;
  let iso: string;
  const k = (...args: string[]) => kit(['--spec', lab.spec, ...args], { env: { ...lab.env, DISPLAY: undefined, WAYLAND_DISPLAY: undefined } });
  const ok = (r: ReturnType<typeof kit>) => {
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
    return r;
  };

  before(async () => {
    lab = await tinyLab('inst', []);
    writeFileSync(
      lab.spec,
      JSON.stringify({
        name: 'inst',
        vms: [
          { name: 'bios1', memory: 256, disk: { file: 'bios1.qcow2', size: '64M' }, boot: 'disk', display: 'gtk' },
          { name: 'uefi1', memory: 256, firmware: 'uefi', disk: { file: 'uefi1.qcow2', size: '64M' }, boot: 'disk' },
        ],
      }),
    );
    const src = join(lab.home, 'iso-src');
    mkdirSync(src);
    writeFileSync(join(src, 'README.TXT'), 'not an installer\n');
    iso = join(lab.home, 'installer.iso');
    execFileSync('genisoimage', ['-quiet', '-o', iso, '-V', 'INSTALLER', src]);
  });
  after(() => {
    for (const vm of ['bios1', 'uefi1']) k('stop', vm, '--force');
    lab.cleanup();
  });

  it('boots the CD once then the disk, with VNC on 127.0.0.1 and its port printed (no display here)', () => {
    const r = JSON.parse(ok(k('install', 'bios1', '--iso', iso, '--json')).stdout);
    assert.match(r.screen.vnc, /^127\.0\.0\.1:59\d\d$/);
    const port = r.screen.vnc.split(':')[1];
    const argv: string[] = r.argv;
    assert.equal(argv[argv.indexOf('-cdrom') + 1], iso);
    assert.equal(argv[argv.indexOf('-boot') + 1], 'order=c,once=d');
    assert.ok(argv.includes(`file=${join(lab.home, 'inst', 'bios1', 'bios1.qcow2')},format=qcow2,if=virtio`), 'its disk is attached');
    // Listening on loopback only.
    const listen = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[3]);
    assert.deepEqual(listen, [`127.0.0.1:${port}`]);
    const status = JSON.parse(ok(k('status', '--json')).stdout).find((s: { name: string }) => s.name === 'bios1');
    assert.equal(status.state, 'running');
    // A second install of a running VM is refused.
    assert.equal(k('install', 'bios1', '--iso', iso).status, 1);
    ok(k('stop', 'bios1', '--force'));
  });

  it('starts UEFI from Debian’s OVMF with this VM’s own variable store', () => {
    const r = JSON.parse(ok(k('install', 'uefi1', '--iso', iso, '--json')).stdout);
    const vars = join(lab.home, 'inst', 'uefi1', 'efivars.qcow2');
    assert.ok(r.argv.includes('if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd'));
    assert.ok(r.argv.includes(`if=pflash,format=qcow2,file=${vars}`));
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', vars], { encoding: 'utf8' }));
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], 540672);
    ok(k('stop', 'uefi1', '--force'));
  });

  it('refuses what cannot work, exit 2', () => {
    assert.match(k('install', 'bios1').stderr, /needs --iso FILE/);
    assert.equal(k('install', 'bios1', '--iso', join(lab.home, 'nope.iso')).status, 2);
    assert.deepEqual(qemusUnder(lab.home), []);
  });
});
