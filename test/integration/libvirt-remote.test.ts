// One lab on two libvirt connections, for real: `near` on this host's libvirtd
// (vms[].libvirt qemu:///system) and `far` on a "server" reached over qemu+ssh — an OpenSSH
// server this test starts on a loopback port, with a key of its own and its host key pinned
// in a known_hosts file of the test's (no StrictHostKeyChecking=no anywhere).  The server is
// this same host, so its libvirtd is the same one; every path to it still goes through SSH:
// virsh over libvirt's qemu+ssh transport, and the kit's session for files, QMP, /proc and
// the forwards.  `far` is a parent: its child nests inside the remote domain as inside any.
// `serve` reads all three where they run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort } from '../helpers/vm.ts';
import { specLab, tinyNestVm } from '../helpers/spec-lab.ts';
import { kit } from '../helpers/cli.ts';
import { frameOf, startServe, type FrameVm } from '../helpers/serve.ts';
import { poolDir } from '../../tasks/machine/libvirt/pool.ts';
import { plannedSshServer, type SshServer, startSshServer, stopSshServer } from '../helpers/ssh-server.ts';

const virsh = (...args: string[]) => spawnSync('virsh', ['-c', 'qemu:///system', ...args], { encoding: 'utf8' });
const domstate = (d: string) => virsh('domstate', d).stdout.trim();
const NEAR = 'grainchart-lvremote-near';
const FAR = 'grainchart-lvremote-far';

describe('a lab across two libvirt connections (qemu:///system and qemu+ssh)', () => {
  let server: SshServer;
  const lab = specLab('gc-lvremote-', async () => {
    server = plannedSshServer(join(lab.home, 'server'), await freePort());
    return {
      name: 'lvremote',
      vms: [
        { name: 'near', memory: 512, boot: { image: 'tiny' }, vga: 'none', network: { sshPort: await freePort() }, libvirt: { uri: 'qemu:///system' } },
        await tinyNestVm('far', 'farc', { libvirt: { uri: server.uri, key: server.key, knownHosts: server.knownHosts } }),
      ],
    };
  });
  const { k, ok, json, states } = lab;

  before(() => startSshServer(server));
  after(() => {
    for (const d of [NEAR, FAR]) {
      virsh('destroy', d);
      virsh('undefine', d);
      virsh('vol-delete', '--pool', 'grainchart', `${d}-root.qcow2`);
    }
    rmSync(`${poolDir()}/vms/lvremote`, { recursive: true, force: true });
    stopSshServer(server);
  });

  it('libvirt-xml writes far’s domain with its files in the server’s pool, without asking the server', () => {
    const impostor = join(server.dir, 'nowhere_known_hosts');
    writeFileSync(impostor, '');
    // A known_hosts that pins nothing: any session to the server would be refused.
    const spec = JSON.parse(readFileSync(lab.spec, 'utf8'));
    spec.vms[1].libvirt.knownHosts = impostor;
    const file = join(lab.home, 'planned.json');
    writeFileSync(file, JSON.stringify(spec));
    const xml = kit(['--spec', file, 'libvirt-xml', 'far'], { env: lab.env });
    assert.equal(xml.status, 0, xml.stderr);
    assert.match(xml.stdout, /<name>grainchart-lvremote-far<\/name>/);
    assert.match(xml.stdout, new RegExp(`<source pool='grainchart' volume='${FAR}-root\\.qcow2'/>`));
  });

  it('up boots near on this host’s libvirtd, far over qemu+ssh, and far’s child inside it', () => {
    ok(k('up'));
    assert.equal(domstate(NEAR), 'running');
    assert.equal(domstate(FAR), 'running');
    assert.deepEqual(states(), [
      ['near', 'running'],
      ['far', 'running'],
      ['farc', 'running'],
    ]);
    assert.equal(ok(k('exec', 'farc', '--', 'hostname')).stdout.trim(), 'farc');
    assert.equal(ok(k('exec', 'near', '--', 'hostname')).stdout.trim(), 'near');
    // far's root disk is a volume of the server's pool on its image's volume, both made over libvirt's connection.
    const vol = virsh('vol-dumpxml', '--pool', 'grainchart', `${FAR}-root.qcow2`).stdout;
    assert.match(vol, new RegExp(`<backingStore>\\s*<path>${poolDir()}/tiny-nest-[0-9a-f]+--root\\.qcow2</path>`), vol);
    const tree = ok(k('tree')).stdout;
    assert.match(tree, /near \(guest VM on libvirt qemu:\/\/\/system\) running/);
    assert.match(tree, new RegExp(`far \\(guest VM on libvirt qemu\\+ssh://root@127\\.0\\.0\\.1:${server.port}/system\\) running`));
    // The server was reached through the test's sshd, by the kit's session and by virsh's ssh
    // (each its own login, with the test's key), and nothing was refused on the way.
    const log = readFileSync(join(server.dir, 'sshd.log'), 'utf8');
    assert.ok((log.match(/Accepted publickey for root from 127\.0\.0\.1/g) ?? []).length >= 2, log);
    assert.doesNotMatch(log, /refused|Invalid user|Connection closed by authenticating/);
  });

  it('chart-vm reads far through the server’s session', () => {
    const s = json(k('chart-vm', 'far', '--json'));
    for (const source of ['host', 'qmp', 'disk', 'guest', 'network']) assert.equal(s[source].ok, true, `${source}: ${s[source].reason}`);
    assert.equal(s.qmp.value.status, 'running');
    // libvirt's figures, over its own qemu+ssh connection.
    assert.equal(s.figuresFrom, 'libvirt domstats');
    assert.ok(s.host.value.rssMiB > 100 && s.host.value.vcpuPercent.length > 0, JSON.stringify(s.host.value));
    assert.equal(json(k('status', '--json')).find((r: { name: string }) => r.name === 'far').domstate, 'running (booted)');
  });

  it('serve (the compiled copy) reads every VM where it runs: near and far on their libvirt, far’s child inside far', async () => {
    const served = startServe(['--spec', lab.spec, 'serve', '--interval', '1'], lab.env, { lean: true });
    try {
      const url = await served.first;
      // CPU needs two readings a window apart: asked until every VM has its figure (or 30 s).
      let vms: FrameVm[] = [];
      for (const t0 = Date.now(); Date.now() - t0 < 30_000; await new Promise((r) => setTimeout(r, 1000))) {
        vms = (await frameOf(url)).vms;
        if (vms.length === 3 && vms.every((v) => v.cpuPercent !== undefined)) break;
      }
      assert.deepEqual(
        vms.map((v) => [v.name, v.state, v.layer, v.machine, v.cpuPercent !== undefined]),
        [
          ['near', 'running', 1, 'libvirt qemu:///system', true],
          ['far', 'running', 1, `libvirt qemu+ssh://root@127.0.0.1:${server.port}/system`, true],
          ['farc', 'running', 2, 'inside far', true],
        ],
        served.stderr(),
      );
    } finally {
      served.child.kill('SIGTERM');
    }
  });

  it('doc names where each VM’s QEMU runs: far on the server, near on this host’s libvirtd, far’s child inside far', () => {
    const out = join(lab.home, 'doc');
    ok(k('doc', '--out', out));
    const md = readFileSync(join(out, 'lvremote.md'), 'utf8');
    const flows = [...md.matchAll(/QEMU runs ([^;]+);/g)].map((m) => m[1]);
    assert.deepEqual(flows, ['on libvirt qemu:///system', `on libvirt ${server.uri}`, 'inside far']);
  });

  it('suspend saves both domains with libvirt’s managed save; a resume that fails half way loses neither; resume brings far’s child back', async () => {
    ok(k('exec', 'farc', '--', 'echo inside > /root/mark'));
    const r = ok(k('suspend'));
    assert.match(r.stdout, /^near: saved by libvirt \(managed save\)/m);
    assert.match(r.stdout, /^far: saved by libvirt \(managed save\)/m);
    const managed = (d: string) => /^Managed save:\s+yes/m.test(virsh('dominfo', d).stdout);
    for (const d of [NEAR, FAR]) {
      assert.equal(domstate(d), 'shut off');
      assert.ok(managed(d), `${d} has no managed save`);
    }
    assert.deepEqual(states(), [
      ['near', 'suspended'],
      ['far', 'suspended'],
      ['farc', 'suspended'],
    ]);
    // Nothing of it went into the qcow2s.
    assert.deepEqual(json(k('snapshots', 'lvremote', '--json')), []);

    // far's port held by someone else (on the server, which is this host): near is loaded
    // first, then far cannot start; near is saved again, and both stay suspended.
    const farPort = JSON.parse(readFileSync(lab.spec, 'utf8')).vms[1].network.sshPort;
    const holder: Server = createServer();
    await new Promise<void>((resolve, reject) => holder.once('error', reject).listen(farPort, '127.0.0.1', resolve));
    try {
      const failed = k('resume');
      assert.equal(failed.status, 1, failed.stderr);
      assert.match(failed.stderr, new RegExp(`port 127\\.0\\.0\\.1:${farPort} is taken`));
    } finally {
      await new Promise((r) => holder.close(r));
    }
    for (const d of [NEAR, FAR]) {
      assert.equal(domstate(d), 'shut off');
      assert.ok(managed(d), `${d}'s managed save was lost by the failed resume`);
    }
    assert.deepEqual(
      states().map(([, s]) => s),
      ['suspended', 'suspended', 'suspended'],
    );

    const back = ok(k('resume'));
    assert.match(back.stdout, /^far: resumed from its managed save/m);
    assert.equal(ok(k('exec', 'farc', '--', 'cat /root/mark')).stdout.trim(), 'inside');
    for (const d of [NEAR, FAR]) assert.equal(managed(d), false, `libvirt still keeps ${d}'s managed save after loading it`);
    assert.deepEqual(
      states().map(([, s]) => s),
      ['running', 'running', 'running'],
    );
  });

  it('a server whose host key is not the pinned one is refused before anything starts there', () => {
    const spec = JSON.parse(readFileSync(lab.spec, 'utf8'));
    const other = join(server.dir, 'other_known_hosts');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(server.dir, 'impostor')]);
    writeFileSync(other, `[127.0.0.1]:${server.port} ${readFileSync(join(server.dir, 'impostor.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ')}\n`);
    spec.name = 'lvimpostor';
    spec.vms = [
      {
        ...spec.vms[1],
        name: 'imp',
        children: undefined,
        network: { sshPort: spec.vms[1].network.sshPort + 1 },
        libvirt: { ...spec.vms[1].libvirt, knownHosts: other },
      },
    ];
    const file = join(lab.home, 'impostor.json');
    writeFileSync(file, JSON.stringify(spec));
    const r = kit(['--spec', file, 'up'], { env: lab.env });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /does not match the pinned one/);
    assert.notEqual(virsh('domuuid', 'grainchart-lvimpostor-imp').status, 0, 'a domain was defined on the impostor');
  });

  it('down shuts both domains off and keeps them; down --undefine removes them, their folders and their root volumes on both', () => {
    ok(k('down'));
    assert.equal(domstate(NEAR), 'shut off');
    assert.equal(domstate(FAR), 'shut off');
    const r = ok(k('down', '--undefine'));
    assert.match(r.stdout, new RegExp(`near: undefined ${NEAR}, removed ${poolDir()}/vms/lvremote/near and volume ${NEAR}-root\\.qcow2`));
    assert.match(r.stdout, new RegExp(`far: undefined ${FAR}, removed ${poolDir()}/vms/lvremote/far and volume ${FAR}-root\\.qcow2 on 127\\.0\\.0\\.1`));
    for (const d of [NEAR, FAR]) {
      assert.notEqual(virsh('domuuid', d).status, 0, `${d} is still defined`);
      assert.notEqual(virsh('vol-info', '--pool', 'grainchart', `${d}-root.qcow2`).status, 0, `${d}'s root volume is still there`);
    }
    assert.equal(existsSync(`${poolDir()}/vms/lvremote`), false, 'the lab’s folder in the pool is left behind');
  });
});
