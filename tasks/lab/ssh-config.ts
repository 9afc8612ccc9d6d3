// A lab as plain OpenSSH sees it: one Host block per VM, nested ones through ProxyJump, host
// keys pinned by alias in the lab's known_hosts.
import { walkVms, type LabResolved } from '../spec/tree.ts';
import { hostKeyAlias, labKeys } from '../ssh/keys.ts';

/** OpenSSH config for every VM of a lab: nested ones through ProxyJump, keys pinned by alias. */
export function sshConfig(lab: LabResolved): string {
  const keys = labKeys(lab.name);
  const blocks: string[] = [`# grainchart lab ${lab.name}: ssh -F <this file> VM`];
  for (const { vm, parent } of walkVms(lab.vms)) {
    if (vm.network.sshPort === undefined) continue;
    blocks.push(
      [
        `Host ${vm.name}`,
        `  HostName ${parent ? '127.0.0.1' : vm.network.bind}`,
        `  Port ${vm.network.sshPort}`,
        `  User ${vm.ssh.user}`,
        `  IdentityFile ${keys.privateKeyPath}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${keys.knownHostsPath}`,
        `  HostKeyAlias ${hostKeyAlias(lab.name, vm.name)}`,
        '  StrictHostKeyChecking yes',
        ...(parent ? [`  ProxyJump ${parent.name}`] : []),
      ].join('\n'),
    );
  }
  return `${blocks.join('\n\n')}\n`;
}
