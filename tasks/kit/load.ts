// Finds and reads lab specs: a name in specs/ (TypeScript module or JSON), a file path,
// or `--spec FILE|-` (JSON on stdin).  Reading never writes anything.
import { readStdin } from './stdin.ts';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from './errors.ts';
import { PROJECT_ROOT } from './paths.ts';
import { resolveLab, findVm, type HostFacts, type LabResolved, type VmPlace } from './resolve.ts';

export const SPECS_DIR = join(PROJECT_ROOT, 'specs');
const SPEC_EXTS = ['.ts', '.json'];

export interface SpecSource {
  /** Where --spec points: a file, or '-' for stdin. */
  spec?: string;
  /** Reads stdin; injectable for tests. */
  readStdin?: () => Promise<string>;
  specsDir?: string;
}

export const localHostFacts = (): HostFacts => ({ cpus: availableParallelism(), memoryMiB: Math.floor(totalmem() / 2 ** 20) });

/** Names of the labs in specs/. */
export function listLabs(specsDir = SPECS_DIR): string[] {
  if (!existsSync(specsDir)) return [];
  return readdirSync(specsDir)
    .filter((f) => SPEC_EXTS.includes(extname(f)) && !f.endsWith('.d.ts'))
    .map((f) => basename(f, extname(f)))
    .sort();
}

const looksLikePath = (ref: string) => ref.includes('/') || SPEC_EXTS.includes(extname(ref));

/** Raw spec data plus a label for messages. */
export async function readLabInput(ref: string | undefined, src: SpecSource = {}): Promise<{ input: unknown; source: string }> {
  if (src.spec === '-') {
    const text = await (src.readStdin ?? readStdin)();
    return { input: parseJson(text, 'stdin (--spec -)'), source: 'stdin' };
  }
  if (src.spec) return readSpecFile(resolve(src.spec));
  if (!ref) throw new UsageError('which lab? name one, or pass --spec FILE', `labs: ${listLabs(src.specsDir).join(', ')}`);
  if (looksLikePath(ref)) return readSpecFile(resolve(ref));
  const dir = src.specsDir ?? SPECS_DIR;
  for (const ext of SPEC_EXTS) {
    const file = join(dir, ref + ext);
    if (existsSync(file)) return readSpecFile(file);
  }
  throw new UsageError(`no lab named "${ref}"`, `labs in ${dir}: ${listLabs(dir).join(', ') || '(none)'}`);
}

async function readSpecFile(file: string): Promise<{ input: unknown; source: string }> {
  if (!existsSync(file)) throw new UsageError(`spec file not found: ${file}`);
  if (file.endsWith('.json')) return { input: parseJson(readFileSync(file, 'utf8'), file), source: file };
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  if (mod.default === undefined) throw new UsageError(`${file} has no default export`, 'export default defineLab({ … })');
  return { input: mod.default, source: file };
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${where} is not valid JSON: ${(err as Error).message}`);
  }
}

export async function loadLab(ref: string | undefined, src: SpecSource = {}, host: HostFacts = localHostFacts()): Promise<LabResolved> {
  const { input, source } = await readLabInput(ref, src);
  return resolveLab(input, host, source);
}

/**
 * Finds a VM by name: in the --spec lab, in the lab named by --lab, or in every lab of
 * specs/ (an error when more than one lab has it).
 */
export async function loadVm(vmName: string, opts: SpecSource & { lab?: string } = {}): Promise<{ lab: LabResolved; place: VmPlace }> {
  const labs = opts.spec || opts.lab ? [await loadLab(opts.lab, opts)] : await Promise.all(listLabs(opts.specsDir).map((l) => loadLab(l, opts)));
  const hits = labs.flatMap((lab) => {
    const place = findVm(lab, vmName);
    return place ? [{ lab, place }] : [];
  });
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new UsageError(`VM "${vmName}" is in several labs: ${hits.map((h) => h.lab.name).join(', ')}`, 'choose one with --lab LAB');
  const known = labs.flatMap((lab) => [...allVmNames(lab)]);
  throw new UsageError(`no VM named "${vmName}"`, known.length ? `VMs: ${known.join(', ')}` : undefined);
}

function* allVmNames(lab: LabResolved): Generator<string> {
  const stack = [...lab.vms];
  while (stack.length) {
    const vm = stack.shift()!;
    yield vm.name;
    stack.push(...vm.children);
  }
}
