// A VM's machine type, pinned at its first boot.  `q35` is an alias for the newest q35 of
// whichever QEMU runs (pc-q35-7.2 under 7.2, pc-q35-10.0 under 10.0), and QEMU loads a saved
// state only into the machine type that wrote it.  So the first boot asks its QEMU what the
// spec's type resolves to and every later boot runs that versioned type, as libvirt pins it
// at define time: a newer QEMU still offers the old type, and the state loads there.

/** The machine types `qemu-system-x86_64 -machine help` lists as aliases, with what each stands for. */
export function parseMachineAliases(help: string): Map<string, string> {
  const aliases = new Map<string, string>();
  for (const line of help.split('\n')) {
    const m = /^(\S+)\s{2,}.*\(alias of (\S+?)\)/.exec(line);
    if (m) aliases.set(m[1]!, m[2]!);
  }
  return aliases;
}

/** What `asked` (the spec's machine) resolves to under the QEMU whose `-machine help` this is: itself when no alias. */
export const versionedMachine = (asked: string, help: string): string => parseMachineAliases(help).get(asked) ?? asked;

/** The machine type a QEMU command line runs (`-machine type=X,…` or `-machine X,…`), if it names one. */
export function machineTypeIn(argv: readonly string[]): string | undefined {
  const i = argv.indexOf('-machine');
  const opts = i >= 0 ? argv[i + 1] : undefined;
  if (!opts) return undefined;
  const first = opts.split(',')[0]!;
  const typed = opts.split(',').find((o) => o.startsWith('type='));
  return typed ? typed.slice('type='.length) : first.includes('=') ? undefined : first;
}

/** q35 and its versioned types (pc-q35-7.2): a PCIe root bus (pcie.0), where pc/i440fx has pci.0. */
export const isQ35 = (machine: string): boolean => machine === 'q35' || machine.startsWith('pc-q35-');

/** A machine type is versioned (pinned) when it is not an alias its QEMU moves (q35, pc). */
export const isVersioned = (machine: string): boolean => /-\d+\.\d+$/.test(machine);

/** Compares QEMU versions as numbers (7.2.22 < 10.0.2): negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+~-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.+~-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/** A VM's pinned machine: the spec's type when it was pinned, and the versioned type it runs. */
export interface MachinePin {
  asked: string;
  type: string;
}

/** The type `pin` holds while the spec still asks for the type it was pinned from; else none. */
export const pinnedType = (asked: string, pin: MachinePin | undefined): string | undefined => (pin?.asked === asked ? pin.type : undefined);

/**
 * The machine type a boot runs: a resume's saved one (the state needs it); the pin of an
 * earlier boot while the spec asks for the same type and the disk is not made anew; else what
 * the QEMU resolves the spec's type to now (`help`: its `-machine help`; unasked when the type
 * is versioned already, `asked` itself when it cannot be read).
 */
export async function machineToRun(
  asked: string,
  o: { pin?: MachinePin; savedArgv?: readonly string[]; fresh: boolean; help: () => Promise<string> },
): Promise<MachinePin> {
  const saved = o.savedArgv && machineTypeIn(o.savedArgv);
  if (saved) return { asked, type: saved };
  const pinned = o.fresh ? undefined : pinnedType(asked, o.pin);
  if (pinned) return { asked, type: pinned };
  if (isVersioned(asked)) return { asked, type: asked };
  return { asked, type: versionedMachine(asked, await o.help().catch(() => '')) };
}
