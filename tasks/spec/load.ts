// Finds and reads lab specs: a name in specs/ (TypeScript module or JSON), a file path,
// or `--spec FILE|-` (JSON on stdin).  Reading never writes anything.  Every way a file can
// fail to be a spec is one SpecFileError naming the file (exit 2), never Node's raw text.
import { plainData, UnreadableField } from './plain-data.ts';
import { readStdin } from '../util/stdin.ts';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { availableParallelism, homedir, totalmem } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SpecChangedError, SpecError, SpecFileError, UsageError } from '../util/errors.ts';
import { PROJECT_ROOT } from '../util/paths.ts';
import { closestNames } from '../util/closest.ts';
import { resolveLab } from './resolve.ts';
import { runningLean } from '../util/kit-entry.ts';
import { importCompiledTs } from './compile-ts.ts';
import { findVm, type HostFacts, type LabResolved, type VmPlace } from './tree.ts';

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

/**
 * The folders a lab is looked up in by name: the kit's specs/, then the folders of
 * GRAINCHART_SPECS (separated by ':', as PATH is), so labs can live outside the checkout.
 * A name in an earlier folder hides the same name in a later one.
 */
export function specsDirs(specsDir?: string): string[] {
  if (specsDir) return [specsDir];
  const extra = (process.env.GRAINCHART_SPECS ?? '').split(':').filter(Boolean);
  return [SPECS_DIR, ...extra.map((d) => resolve(d.startsWith('~/') ? join(homedir(), d.slice(2)) : d))];
}

const labsIn = (dir: string) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => SPEC_EXTS.includes(extname(f)) && !f.endsWith('.d.ts'))
        .map((f) => basename(f, extname(f)))
    : [];

/** Names of the labs in specs/ and GRAINCHART_SPECS (a name whose .ts and .json both exist is listed once; loading it refuses). */
export function listLabs(specsDir?: string): string[] {
  return [...new Set(specsDirs(specsDir).flatMap(labsIn))].sort();
}

const looksLikePath = (ref: string) =>
  ref.includes('/') || SPEC_EXTS.includes(extname(ref).toLowerCase()) || ['.yaml', '.yml'].includes(extname(ref).toLowerCase());

/** Raw spec data, a label for messages, and the lab name its specs/ file promises. */
export interface LabInputRead {
  input: unknown;
  source: string;
  /** Read from specs/NAME.ts|json: the lab must be named NAME. */
  specsName?: string;
}

export async function readLabInput(ref: string | undefined, src: SpecSource = {}): Promise<LabInputRead> {
  if (src.spec === '-') {
    const text = await (src.readStdin ?? readStdin)();
    return { input: parseJson(text, 'stdin (--spec -)'), source: 'stdin' };
  }
  if (src.spec) return readSpecFile(resolve(src.spec));
  if (!ref) throw new UsageError('which lab? name one, or pass --spec FILE', `the labs in specs/: ${listLabs(src.specsDir).join(', ')}`);
  if (looksLikePath(ref)) return readSpecFile(resolve(ref));
  const dirs = specsDirs(src.specsDir);
  for (const dir of dirs) {
    const files = SPEC_EXTS.map((ext) => join(dir, ref + ext)).filter((f) => existsSync(f));
    if (files.length > 1) throw new SpecFileError(files.join(' and '), `both declare lab "${ref}", which would share one state folder`, 'keep one of them');
    if (files.length === 1) return { ...(await readSpecFile(files[0]!)), specsName: ref };
  }
  throw new UsageError(`no lab named ${JSON.stringify(ref)}`, `labs in ${dirs.join(', ')}: ${listLabs(src.specsDir).join(', ') || '(none)'}`);
}

const firstLine = (text: string) =>
  text
    .split('\n')
    .find((l) => l.trim())
    ?.trim() ?? text;

const ioProblem = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM'
    ? 'cannot be read: permission denied'
    : code === 'ENOENT'
      ? 'not found'
      : `cannot be read: ${firstLine((err as Error).message)}`;
};

/** What each TypeScript spec held when this process imported it, by path. */
const importedTs = new Map<string, string>();

async function readSpecFile(file: string): Promise<LabInputRead> {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat) throw new SpecFileError(file, 'not found');
  if (stat.isDirectory()) throw new SpecFileError(file, 'is a folder, not a spec file', 'name a .json or .ts file');
  const ext = extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml')
    throw new SpecFileError(file, 'is YAML; a spec is JSON (.json) or TypeScript (.ts)', 'write it as JSON, or as TypeScript like specs/demo.ts');
  if (ext !== '.json' && ext !== '.ts' && ext !== '.mts')
    throw new SpecFileError(file, `is not a spec file (${ext || 'no extension'}); a spec is JSON (.json) or TypeScript (.ts)`);
  // Read first, either kind: an unreadable file says so, not a JSON or import error.
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpecFileError(file, ioProblem(err));
  }
  if (ext === '.json') return { input: parseJson(text, file), source: file };
  // A process that loads a spec again (the lab agent) gets the module it imported only while the file is as it was then.
  const version = createHash('sha256').update(text).digest('hex');
  if ((importedTs.get(file) ?? version) !== version) throw new SpecChangedError(file);
  importedTs.set(file, version);
  let mod: { default?: unknown };
  try {
    // Under tsx the loader compiles it; the compiled copy of the kit has no loader, so esbuild does.
    mod = runningLean() ? await importCompiledTs(file, version) : ((await import(pathToFileURL(file).href)) as { default?: unknown });
  } catch (err) {
    throw new SpecFileError(
      file,
      `could not be loaded: ${firstLine(err instanceof Error ? err.message : String(err))}`,
      `run it alone to see the whole error: npx tsx ${file}`,
    );
  }
  if (mod.default === undefined) throw new SpecFileError(file, 'has no default export', 'export default defineLab({ … })');
  try {
    return { input: plainData(mod.default), source: file };
  } catch (err) {
    if (!(err instanceof UnreadableField)) throw err;
    throw new SpecFileError(file, `could not be read: ${err.message}`, 'that field threw when the kit read it (a getter?): give it a plain value');
  }
}

function parseJson(text: string, where: string): unknown {
  // Editors on Windows start UTF-8 files with a byte order mark; JSON.parse would call it an unexpected token.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new SpecFileError(where, `is not valid JSON: ${(err as Error).message}`);
  }
}

export async function loadLab(ref: string | undefined, src: SpecSource = {}, host: HostFacts = localHostFacts()): Promise<LabResolved> {
  const { input, source, specsName } = await readLabInput(ref, src);
  const lab = resolveLab(input, host, source);
  // The lab's name is its state folder's: named after its file, no two files in specs/ share one.
  if (specsName !== undefined && lab.name !== specsName)
    throw new SpecError(source, [
      {
        path: 'name',
        message: `is "${lab.name}", but a lab in specs/ is named after its file (${specsName}), so that no two files share one lab's state folder (keys, lock, VMs); rename one of them`,
      },
    ]);
  return lab;
}

/** Every lab in specs/, and each file that could not be loaded with why: one bad file does not hide the others. */
export async function loadAllLabs(src: SpecSource = {}): Promise<{ labs: LabResolved[]; broken: Array<{ name: string; error: unknown }> }> {
  const names = listLabs(src.specsDir);
  const results = await Promise.allSettled(names.map((l) => loadLab(l, src)));
  const labs: LabResolved[] = [];
  const broken: Array<{ name: string; error: unknown }> = [];
  for (const [i, r] of results.entries()) {
    if (r.status === 'fulfilled') labs.push(r.value);
    else broken.push({ name: names[i]!, error: r.reason });
  }
  return { labs, broken };
}

/** The lab named (or --spec), else every lab in specs/ with the files that could not be loaded. */
export async function loadLabsFor(
  ref: string | undefined,
  src: SpecSource = {},
): Promise<{ labs: LabResolved[]; broken: Array<{ name: string; error: unknown }> }> {
  return ref || src.spec ? { labs: [await loadLab(ref, src)], broken: [] } : loadAllLabs(src);
}

/** One line per lab that could not be loaded, for hints and warnings. */
export const brokenLabsLine = (broken: Array<{ name: string; error: unknown }>) =>
  broken.map((b) => `${b.name}: ${firstLine(b.error instanceof Error ? b.error.message : String(b.error))}`).join('; ');

/**
 * Finds a VM by name: in the --spec lab, in the lab named by --lab, or in every lab of
 * specs/ (an error when more than one lab has it).
 */
export async function loadVm(vmName: string, opts: SpecSource & { lab?: string } = {}): Promise<{ lab: LabResolved; place: VmPlace }> {
  const { labs, broken } = await loadLabsFor(opts.lab, opts);
  const hits = labs.flatMap((lab) => {
    const place = findVm(lab, vmName);
    return place ? [{ lab, place }] : [];
  });
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1)
    throw new UsageError(`VM ${JSON.stringify(vmName)} is in several labs: ${hits.map((h) => h.lab.name).join(', ')}`, 'choose one with --lab LAB');
  const byLab = labs.map((lab) => `${lab.name}: ${[...allVmNames(lab)].join(', ')}`);
  const near = closestNames(vmName, [...new Set(labs.flatMap((lab) => [...allVmNames(lab)]))]);
  const unread = broken.length ? `; labs that could not be read (fix them, or name the lab with --lab): ${brokenLabsLine(broken)}` : '';
  throw new UsageError(
    `no VM named ${JSON.stringify(vmName)}${opts.lab || opts.spec ? ` in lab ${labs[0]?.name ?? opts.lab}` : ''}${near.length ? `; did you mean ${near.join(' or ')}?` : ''}`,
    byLab.length || unread ? `${byLab.length ? `VMs by lab — ${byLab.join('; ')}` : 'no VMs'}${unread}` : undefined,
  );
}

function* allVmNames(lab: LabResolved): Generator<string> {
  const stack = [...lab.vms];
  while (stack.length) {
    const vm = stack.shift()!;
    yield vm.name;
    stack.push(...vm.children);
  }
}
