// Malformed specs: each must fail with its field path and a clear message, exit 2, and
// leave nothing on disk — checked through the real CLI on the task that would write.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../tasks/cli/main.ts';
import { tasks } from '../../tasks.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { BIG_HOST } from '../helpers/probes.ts';

type Spec = Record<string, any>;
const base = (): Spec => ({
  name: 'lab',
  vms: [
    {
      name: 'a',
      cpus: 4,
      memory: '8G',
      disk: { file: 'a.qcow2', size: '1G' },
      network: { sshPort: 2300 },
      children: [{ name: 'b', cpus: 1, memory: '256M', disk: { file: 'b.qcow2', size: '1G' }, network: { sshPort: 2300 } }],
    },
  ],
});
const second = (extra: Spec = {}) => ({ name: 'c', memory: 256, disk: { file: 'c.qcow2', size: '1G' }, ...extra });

// [what is wrong, how to break the base spec, expected path, expected message]
const cases: Array<[string, (s: Spec) => void, string, RegExp]> = [
  ['unknown built-in check', (s) => (s.vms[0].checks = ['sshh']), 'vms[0].checks[0]', /built-in check \(ssh, kvm, disk, child-reachable\)/],
  [
    'check regex that does not compile',
    (s) => (s.vms[0].checks = [{ name: 'x', run: 'true', expect: { stdout: '([' } }]),
    'vms[0].checks[0].expect.stdout',
    /not a valid regular expression/,
  ],
  ['check without a command', (s) => (s.vms[0].checks = [{ name: 'x' }]), 'vms[0].checks[0].run', /expected a shell command/],
  ['child-reachable without children', (s) => (s.vms[0].children[0].checks = ['child-reachable']), 'vms[0].children[0].checks[0]', /needs children/],
  ['duplicate check names', (s) => (s.vms[0].checks = ['ssh', 'ssh']), 'vms[0].checks[1]', /duplicate check name "ssh"/],
  ['host check that is a built-in', (s) => (s.host = { checks: ['ssh'] }), 'host.checks[0]', /expected object|Invalid input/],
  ['lab name missing', (s) => delete s.name, 'name', /expected a name/],
  ['lab name uppercase', (s) => (s.name = 'Lab'), 'name', /lowercase letters, digits and dashes/],
  ['no VMs', (s) => (s.vms = []), 'vms', /at least one VM/],
  ['vms not a list', (s) => (s.vms = { a: 1 }), 'vms', /expected array/],
  ['shell metacharacters in a name', (s) => (s.vms[0].name = 'a;rm -rf'), 'vms[0].name', /got "a;rm -rf"/],
  ['command substitution in a name', (s) => (s.vms[0].name = '$(reboot)'), 'vms[0].name', /lowercase/],
  ['leading dash in a name', (s) => (s.vms[0].name = '-a'), 'vms[0].name', /no leading\/trailing dash/],
  ['name of 64 characters', (s) => (s.vms[0].name = 'a'.repeat(64)), 'vms[0].name', /max 63/],
  ['space in a name', (s) => (s.vms[0].children[0].name = 'b c'), 'vms[0].children[0].name', /lowercase/],
  ['zero CPUs', (s) => (s.vms[0].cpus = 0), 'vms[0].cpus', />=1/],
  ['fractional CPUs', (s) => (s.vms[0].cpus = 1.5), 'vms[0].cpus', /whole number of CPUs/],
  ['CPUs as a string', (s) => (s.vms[0].cpus = '2'), 'vms[0].cpus', /whole number of CPUs/],
  ['negative memory', (s) => (s.vms[0].memory = -1), 'vms[0].memory', /must be positive/],
  ['memory as words', (s) => (s.vms[0].memory = 'lots'), 'vms[0].memory', /expected a size like "8G"/],
  ['unknown memory unit', (s) => (s.vms[0].memory = '8X'), 'vms[0].memory', /expected a size/],
  ['negative disk size', (s) => (s.vms[0].disk.size = '-5G'), 'vms[0].disk.size', /expected a size/],
  ['unknown disk format', (s) => (s.vms[0].disk.format = 'vmdk'), 'vms[0].disk.format', /qcow2.*raw/],
  ['disk without file', (s) => delete s.vms[0].disk.file, 'vms[0].disk.file', /expected a file path/],
  ['disk without size or backing', (s) => delete s.vms[0].disk.size, 'vms[0].disk.size', /needed unless `backing`/],
  ['raw overlay', (s) => Object.assign(s.vms[0].disk, { backing: 'base.qcow2', format: 'raw' }), 'vms[0].disk.format', /must be qcow2/],
  ['line break in a file name', (s) => (s.vms[0].disk.file = 'a\nb.qcow2'), 'vms[0].disk.file', /must not contain a line break/],
  ['unknown boot word', (s) => (s.vms[0].boot = 'cdrom'), 'vms[0].boot', /must be "disk", \{kernel/],
  ['kernel path of the wrong type', (s) => (s.vms[0].boot = { kernel: 5 }), 'vms[0].boot.kernel', /expected a file path/],
  [
    'child forward on the parent’s own sshd port',
    (s) => (s.vms[0].children[0].network.sshPort = 22),
    'vms[0].children[0].network.sshPort',
    /port 22 is a’s own sshd/,
  ],
  [
    'child forward on a child QMP port',
    (s) => (s.vms[0].children[0].network.sshPort = 14000),
    'vms[0].children[0].network.sshPort',
    /port 14000 is where the kit puts a child’s QMP inside a/,
  ],
  [
    'children under the kit’s plain debian',
    (s) => (s.vms[0].boot = { cloudImage: 'debian' }),
    'vms[0].boot.cloudImage',
    /has no QEMU to run children; use "debian-nest"/,
  ],
  [
    'a cloud child under tiny-nest',
    (s) => {
      s.vms[0].boot = { image: 'tiny-nest' };
      s.vms[0].children[0].boot = { cloudImage: 'debian' };
    },
    'vms[0].children[0].boot',
    /carries only the tiny image/,
  ],
  ['disk boot without a disk', (s) => delete s.vms[0].children[0].disk, 'vms[0].children[0].boot', /has no `disk`/],
  ['unknown accelerator', (s) => (s.vms[0].accel = 'hvf'), 'vms[0].accel', /"auto"\|"kvm"\|"tcg"/],
  ['host CPU model under TCG', (s) => Object.assign(s.vms[0], { accel: 'tcg', cpu: 'host,+vmx' }), 'vms[0].cpu', /needs KVM but accel is tcg/],
  ['shell words in a CPU model', (s) => (s.vms[0].cpu = 'host;reboot'), 'vms[0].cpu', /QEMU CPU model/],
  ['port out of range', (s) => (s.vms[0].network.sshPort = 70000), 'vms[0].network.sshPort', /<=65535/],
  ['bad bind address', (s) => (s.vms[0].network.bind = '0.0.0'), 'vms[0].network.bind', /IPv4 address/],
  [
    'two VMs on one host port',
    (s) => s.vms.push(second({ network: { sshPort: 2300 } })),
    'vms[1].network.sshPort',
    /port 2300\/tcp is already forwarded by vms\[0\]\.network\.sshPort/,
  ],
  [
    'a forward on the SSH port',
    (s) => (s.vms[0].network.forwards = [{ host: 2300, guest: 80 }]),
    'vms[0].network.forwards[0].host',
    /already forwarded by vms\[0\]\.network\.sshPort/,
  ],
  [
    'unknown forward protocol',
    (s) => (s.vms[0].network.forwards = [{ host: 8080, guest: 80, proto: 'sctp' }]),
    'vms[0].network.forwards[0].proto',
    /"tcp"\|"udp"/,
  ],
  ['duplicate VM names', (s) => (s.vms[0].children[0].name = 'a'), 'vms[0].children[0].name', /duplicate VM name "a" \(also at vms\[0\]\)/],
  ['child bigger than its parent', (s) => (s.vms[0].children[0].memory = '16G'), 'vms[0].children[0].memory', /must fit in parent a \(8 GiB\), got 16 GiB/],
  ['child with more CPUs than its parent', (s) => (s.vms[0].children[0].cpus = 8), 'vms[0].children[0].cpus', /must fit in parent a \(4 CPUs\), got 8/],
  [
    'children together bigger than the parent',
    (s) => s.vms[0].children.push(second({ memory: '7.9G' })),
    'vms[0].children',
    /together ask .* more than parent a has/,
  ],
  ['nesting turned off with children', (s) => (s.vms[0].nested = false), 'vms[0].nested', /has children/],
  ['unknown VM key', (s) => (s.vms[0].colour = 'red'), 'vms[0].colour', /unknown key/],
  ['unknown lab key', (s) => (s.vm = []), 'vm', /unknown key/],
  ['misspelt network key', (s) => (s.vms[0].network.ssh_port = 22), 'vms[0].network.ssh_port', /unknown key/],
  ['unknown display', (s) => (s.vms[0].display = 'sdl'), 'vms[0].display', /"none"\|"gtk"\|"vnc"/],
  ['label of the wrong type', (s) => (s.vms[0].labels = { tier: 3 }), 'vms[0].labels.tier', /expected one line of text/],
  ['bad SSH user', (s) => (s.vms[0].ssh = { user: 'Root!' }), 'vms[0].ssh.user', /Unix user name/],
  ['children under the plain tiny image', (s) => (s.vms[0].boot = { image: 'tiny' }), 'vms[0].boot.image', /needs image "tiny-nest"/],
  ['unknown image', (s) => (s.vms[0].boot = { image: 'alpine' }), 'vms[0].boot.image', /"tiny"\|"tiny-nest"/],
  // Accepted once, impossible at run time (issue 16, class 1).
  ['memory too small to boot', (s) => (s.vms[0].memory = 1), 'vms[0].memory', /less than the 32 MiB a guest needs/],
  // Files where they must not go (class 2).
  ['a disk outside the VM’s folder by ..', (s) => (s.vms[0].disk.file = '../../../escape.qcow2'), 'vms[0].disk.file', /leaves the VM's state folder/],
  ['a disk on the serial log', (s) => (s.vms[0].disk.file = 'serial.log'), 'vms[0].disk.file', /kit's own serial\.log/],
  ['a disk on the QMP socket', (s) => (s.vms[0].disk.file = 'qmp.sock'), 'vms[0].disk.file', /kit's own qmp\.sock/],
  ['a disk on the state record', (s) => (s.vms[0].disk.file = './state.json'), 'vms[0].disk.file', /kit's own state\.json/],
  ['a kernel named like the kit’s overlay', (s) => (s.vms[0].boot = { kernel: 'root.qcow2' }), 'vms[0].boot.kernel', /kit's own root\.qcow2/],
  ['~user in a path', (s) => (s.vms[0].disk.file = '~bob/x.qcow2'), 'vms[0].disk.file', /only ~\/ /],
  ['a VM named like the lab’s key folder', (s) => (s.vms[0].children[0].name = 'ssh'), 'vms[0].children[0].name', /reserved: ssh/],
  [
    'two VMs writing one disk',
    (s) => {
      s.vms[0].disk.file = '/srv/shared.qcow2';
      s.vms.push(second({ disk: { file: '/srv/shared.qcow2', size: '1G' } }));
    },
    'vms[1].disk.file',
    /two VMs writing one disk/,
  ],
  // Where a VM runs (libvirt).
  [
    'a libvirt connection over another transport',
    (s) => (s.host = { libvirt: { uri: 'qemu+tcp://server/system' } }),
    'host.libvirt.uri',
    /must be qemu:\/\/\/system \(this host's libvirtd\) or qemu\+ssh:\/\/\[user@\]server\[:port\]\/system/,
  ],
  [
    'a libvirt connection with options in the URI',
    (s) => (s.host = { libvirt: { uri: 'qemu+ssh://me@server/system?no_verify=1' } }),
    'host.libvirt.uri',
    /must be qemu:\/\/\/system/,
  ],
  ['a libvirt connection that is not a URI', (s) => (s.vms[0].libvirt = { uri: 'system' }), 'vms[0].libvirt.uri', /must be qemu:\/\/\/system/],
  [
    'a nested VM on a libvirt connection',
    (s) => (s.vms[0].children[0].libvirt = { uri: 'qemu:///system' }),
    'vms[0].children[0].libvirt',
    /only a top-level VM runs on a libvirt connection; b nests inside a \(put libvirt on a\)/,
  ],
  // Text that becomes syntax (class 3).
  ['NUL in a title', (s) => (s.vms[0].title = 'a\u0000b'), 'vms[0].title', /must not contain a NUL/],
  ['line break in a title', (s) => (s.vms[0].title = 'lab\n  foo = 1;'), 'vms[0].title', /line break/],
  ['terminal escape in a host title', (s) => (s.host = { title: '\u001b[2J' }), 'host.title', /control character \\x1b/],
  [
    'control character in a kernel command line',
    (s) => (s.vms[0].boot = { kernel: '/boot/vmlinuz', append: 'console=ttyS0\u0007' }),
    'vms[0].boot.append',
    /control character \\x07/,
  ],
  ['NUL in a check command', (s) => (s.vms[0].checks = [{ name: 'x', run: 'true\u0000' }]), 'vms[0].checks[0].run', /NUL/],
  ['a label with a line break', (s) => (s.vms[0].labels = { tier: 'a\nb' }), 'vms[0].labels.tier', /line break/],
  ['a key that is a terminal escape', (s) => (s.vms[0]['\u001b[31mok'] = 1), 'vms[0]["\\u001b[31mok"]', /unknown key/],
];

describe('malformed specs', () => {
  let dir: string;
  let state: string;
  const saved = process.env.GRAINCHART_HOME;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-spec-'));
    state = mkdtempSync(join(tmpdir(), 'gc-state-'));
    process.env.GRAINCHART_HOME = state;
  });
  after(() => {
    process.env.GRAINCHART_HOME = saved;
    if (saved === undefined) delete process.env.GRAINCHART_HOME;
    rmSync(dir, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  });

  it('the base spec is valid, and a child may reuse its parent’s port number in its own layer', () => {
    assert.equal(resolveLab(base(), BIG_HOST, 't').vms[0]!.children[0]!.network.sshPort, 2300);
  });

  it('a nested VM without network.sshPort gets the lowest port from 2222 its siblings leave free, never moving a named one', () => {
    const tiny = (name: string, network?: object) => ({ name, memory: 128, boot: { image: 'tiny' }, ...(network ? { network } : {}) });
    const lab = resolveLab(
      {
        name: 't',
        vms: [
          {
            name: 'p',
            memory: '1G',
            boot: { image: 'tiny-nest' },
            network: { sshPort: 2222 },
            children: [
              tiny('b'),
              tiny('c', {
                forwards: [
                  { host: 2223, guest: 80 },
                  { host: 2224, guest: 53, proto: 'udp' },
                ],
              }),
              tiny('d', { sshPort: 2222 }),
            ],
          },
        ],
      },
      BIG_HOST,
      't',
    );
    assert.equal(lab.vms[0]!.network.sshPort, 2222, 'a top-level VM keeps what it says');
    assert.deepEqual(
      lab.vms[0]!.children.map((c) => [c.name, c.network.sshPort]),
      [
        ['b', 2224], // 2222 is d's, 2223 c's TCP forward; c's UDP 2224 is no TCP port
        ['c', 2225],
        ['d', 2222],
      ],
    );
  });

  it(`has at least 30 cases (${cases.length})`, () => assert.ok(cases.length >= 30));

  for (const [what, breakIt, path, message] of cases) {
    it(what, async () => {
      const spec = base();
      breakIt(spec);
      const file = join(dir, 'spec.json');
      writeFileSync(file, JSON.stringify(spec));
      let err = '';
      const code = await runCli(tasks, ['disk-create', 'a', '--spec', file], { stdout: () => {}, stderr: (s) => void (err += s) });
      assert.equal(code, 2, err);
      const line = err.split('\n').find((l) => l.trim().startsWith(`${path}: `));
      assert.ok(line, `no problem reported at ${path}:\n${err}`);
      assert.match(line, message);
      assert.doesNotMatch(err, /\u001b/, 'a terminal escape reached stderr');
      assert.deepEqual(readdirSync(state), [], 'something was written to the state folder');
      assert.deepEqual(readdirSync(dir), ['spec.json'], 'something was written next to the spec');
    });
  }
});
