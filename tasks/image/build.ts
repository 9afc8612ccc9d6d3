// tasks/image/: the kit's own guest images, built from Debian packages and cached by content
// hash; the boot path never builds, it is handed what it boots (vm/inputs.ts).
//
// Builds the tiny guest image, cached by a hash of everything it is made from: the exact
// package versions, the boot scripts and this builder's own source.  A build happens in a
// temporary folder that is renamed into place at the end, so a failed or interrupted build
// leaves no half-made image behind.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../util/paths.ts';
import { progressList } from '../cli/progress.ts';
import type { ListrTask } from 'listr2';
import { downloadDebs, resolveTinyPackages, unpackDebs, type Pkg } from './packages.ts';
import { assembleRootDiskInitramfs, assembleTree, makeRootDisk, packInitramfs } from './tree.ts';
import { addChildImage, addQemu } from './nest.ts';
import { currentQemu } from '../qemu/which.ts';

export type ImageName = 'tiny' | 'tiny-nest';

export interface ImageManifest {
  name: ImageName;
  hash: string;
  kernelVersion: string;
  packages: Pkg[];
  hostKeyPub: string;
  /** initrd: the whole guest in RAM; initrdDisk: just enough to mount the root disk. */
  files: { kernel: string; initrd: string; initrdDisk?: string; rootDisk: string };
  sizes: { kernel: number; initrd: number; initrdDisk?: number; rootDisk: number };
  buildSeconds: number;
  builtAt: string;
}

export interface BuiltImage extends ImageManifest {
  dir: string;
  cached: boolean;
}

export const cacheRoot = (env = process.env) => env.GRAINCHART_CACHE ?? join(env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache'), 'grainchart');

/** Free space on the root disks (MiB, sparse): the tiny guest's own files; a nesting guest's children's disks and snapshots. */
const TINY_FREE_MIB = 256;
const NEST_FREE_MIB = 4096;

/** A source file of tasks/image, read from the sources, not beside the running module: the compiled copy (build/js) keys images as the sources do. */
export const imageSource = (rel: string) => readFileSync(join(PROJECT_ROOT, 'tasks', 'image', rel), 'utf8');

/** The cache key: package versions + boot scripts + the builder's code. */
export function imageHash(packages: Pkg[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(packages));
  for (const f of ['./init-scripts.ts', './tree.ts', './build.ts', './packages.ts', './nest.ts']) h.update(imageSource(f));
  return h.digest('hex').slice(0, 16);
}

let builds = 0;
/**
 * A build's own work folder beside the image's.  One per call, not one per process: `up` of
 * a lab with two tiny VMs builds the same image twice at once on a cold cache, and a shared
 * folder was wiped by one build under the other.  The first to finish publishes; publish()
 * keeps the image already in place for the second.
 */
export const workDirFor = (dir: string) => `${dir}.build-${process.pid}-${++builds}`;

export function readManifest(dir: string): ImageManifest | undefined {
  const file = join(dir, 'manifest.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ImageManifest) : undefined;
}

/** Builds the tiny image unless the cache has it; `force` rebuilds. */
export async function buildTinyImage(opts: { quiet?: boolean; force?: boolean } = {}): Promise<BuiltImage> {
  const root = cacheRoot();
  const started = Date.now();
  const ctx = {} as {
    packages: Pkg[];
    kernel: Pkg;
    hash: string;
    dir: string;
    work: string;
    debs: string[];
    result?: BuiltImage;
    hostKeyPub: string;
    kernelVersion: string;
  };
  const steps: ListrTask<typeof ctx>[] = [
    {
      title: 'Resolve Debian package versions',
      task: async (c, t) => {
        const r = await resolveTinyPackages(join(root, 'apt-resolved.json'));
        c.packages = r.packages;
        c.kernel = r.kernel;
        c.hash = imageHash(r.packages);
        c.dir = join(root, 'images', `tiny-${c.hash}`);
        const m = readManifest(c.dir);
        if (m && !opts.force) c.result = { ...m, dir: c.dir, cached: true };
        t.title = `Resolved ${r.kernel.name} ${r.kernel.version}${c.result ? ' (image cached)' : ''}`;
      },
    },
    {
      title: 'Download .deb files',
      skip: (c) => !!c.result,
      task: async (c) => {
        c.debs = await downloadDebs(join(root, 'debs'), c.packages);
      },
    },
    {
      title: 'Unpack and assemble the guest tree',
      skip: (c) => !!c.result,
      task: async (c) => {
        c.work = workDirFor(c.dir);
        rmSync(c.work, { recursive: true, force: true });
        mkdirSync(c.work, { recursive: true });
        await unpackDebs(c.debs, join(c.work, 'extract'));
        const tree = await assembleTree(join(c.work, 'extract'), join(c.work, 'root'));
        c.hostKeyPub = tree.hostKeyPub;
        c.kernelVersion = tree.kernelVersion;
      },
    },
    {
      title: 'Pack initramfs and root disk',
      skip: (c) => !!c.result,
      task: async (c) => {
        const out = join(c.work, 'out');
        mkdirSync(out);
        copyFileSync(join(c.work, 'extract/boot', `vmlinuz-${c.kernelVersion}`), join(out, 'vmlinuz'));
        assembleRootDiskInitramfs(join(c.work, 'root'), join(c.work, 'boot-root'));
        await Promise.all([
          packInitramfs(join(c.work, 'root'), join(out, 'initrd.img')),
          packInitramfs(join(c.work, 'boot-root'), join(out, 'initrd-disk.img')),
          makeRootDisk(join(c.work, 'root'), c.work, join(out, 'root.qcow2'), TINY_FREE_MIB),
        ]);
        c.result = publish(
          out,
          c.dir,
          c.work,
          { name: 'tiny', hash: c.hash, kernelVersion: c.kernelVersion, packages: c.packages, hostKeyPub: c.hostKeyPub },
          started,
          opts.force,
        );
      },
    },
  ];
  return runBuild(steps, ctx, opts.quiet);
}

/** Runs a build's steps as progress; a failure removes the build's half-made work folder. */
async function runBuild<C extends { work?: string; result?: BuiltImage }>(steps: ListrTask<C>[], ctx: C, quiet?: boolean): Promise<BuiltImage> {
  try {
    await progressList<C>(steps, { quiet }).run(ctx);
  } catch (err) {
    if (ctx.work) rmSync(ctx.work, { recursive: true, force: true });
    throw err;
  }
  return ctx.result!;
}

/**
 * Writes the manifest of the files in `out` and publishes `out` as `dir` in one rename, so
 * a reader never sees a half-built image; if another build won the race, theirs is kept.
 */
function publish(
  out: string,
  dir: string,
  work: string,
  base: Pick<ImageManifest, 'name' | 'hash' | 'kernelVersion' | 'packages' | 'hostKeyPub'>,
  started: number,
  force?: boolean,
  extra: object = {},
): BuiltImage {
  const size = (f: string) => statSync(join(out, f)).size;
  const manifest: ImageManifest = {
    ...base,
    files: { kernel: 'vmlinuz', initrd: 'initrd.img', initrdDisk: 'initrd-disk.img', rootDisk: 'root.qcow2' },
    sizes: { kernel: size('vmlinuz'), initrd: size('initrd.img'), initrdDisk: size('initrd-disk.img'), rootDisk: size('root.qcow2') },
    buildSeconds: (Date.now() - started) / 1000,
    builtAt: new Date().toISOString(),
  };
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ ...manifest, ...extra }, null, 2)}\n`);
  if (force) rmSync(dir, { recursive: true, force: true });
  if (!existsSync(dir)) renameSync(out, dir);
  rmSync(work, { recursive: true, force: true });
  return { ...(readManifest(dir) ?? manifest), dir, cached: false };
}

export function imagePaths(img: Pick<BuiltImage, 'dir' | 'files'>) {
  return {
    kernel: join(img.dir, img.files.kernel),
    initrd: join(img.dir, img.files.initrd),
    // Images built before the small initramfs existed boot disk roots with the whole one.
    initrdDisk: join(img.dir, img.files.initrdDisk ?? img.files.initrd),
    rootDisk: join(img.dir, img.files.rootDisk),
  };
}

/** Host QEMU binaries that the nest image copies: their size and time stand for their version. */
function hostQemuStamp(): string {
  const q = currentQemu();
  return [q.system, q.img]
    .map((p) => statSync(p, { throwIfNoEntry: false }))
    .map((st, i) => (st ? `${[q.system, q.img][i]}:${st.size}:${st.mtimeMs}` : 'missing'))
    .join('|');
}

/**
 * The tiny-nest image: the tiny guest plus QEMU and the tiny image for its children.
 * Boots with the tiny image's kernel and small initramfs; only the root disk differs.
 */
export async function buildNestImage(opts: { quiet?: boolean; force?: boolean } = {}): Promise<BuiltImage> {
  const root = cacheRoot();
  const started = Date.now();
  const ctx = {} as { tiny: BuiltImage; hash: string; dir: string; work: string; result?: BuiltImage };
  const steps: ListrTask<typeof ctx>[] = [
    {
      title: 'The tiny image (for the children)',
      task: async (c, t) => {
        c.tiny = await buildTinyImage({ quiet: true, force: opts.force });
        c.hash = createHash('sha256').update(c.tiny.hash).update(hostQemuStamp()).digest('hex').slice(0, 16);
        c.dir = join(root, 'images', `tiny-nest-${c.hash}`);
        const m = readManifest(c.dir);
        if (m && !opts.force) c.result = { ...m, dir: c.dir, cached: true };
        t.title = `Tiny image ${c.tiny.hash}${c.result ? '; nest image cached' : ''}`;
      },
    },
    {
      title: 'Assemble the nest tree: tiny guest + QEMU + firmware + kvm modules + child image',
      skip: (c) => !!c.result,
      task: async (c) => {
        c.work = workDirFor(c.dir);
        rmSync(c.work, { recursive: true, force: true });
        mkdirSync(c.work, { recursive: true });
        const debs = await downloadDebs(join(root, 'debs'), c.tiny.packages);
        await unpackDebs(debs, join(c.work, 'extract'));
        const tree = await assembleTree(join(c.work, 'extract'), join(c.work, 'root'));
        await addQemu(join(c.work, 'root'), join(c.work, 'extract'), tree.kernelVersion);
        const tp = imagePaths(c.tiny);
        addChildImage(join(c.work, 'root'), { vmlinuz: tp.kernel, 'initrd.img': tp.initrd, 'initrd-disk.img': tp.initrdDisk, 'root.qcow2': tp.rootDisk });
        const out = join(c.work, 'out');
        mkdirSync(out);
        await makeRootDisk(join(c.work, 'root'), c.work, join(out, 'root.qcow2'), NEST_FREE_MIB);
        copyFileSync(tp.kernel, join(out, 'vmlinuz'));
        copyFileSync(tp.initrdDisk, join(out, 'initrd-disk.img'));
        copyFileSync(tp.initrd, join(out, 'initrd.img'));
        c.result = publish(
          out,
          c.dir,
          c.work,
          { name: 'tiny-nest', hash: c.hash, kernelVersion: tree.kernelVersion, packages: c.tiny.packages, hostKeyPub: tree.hostKeyPub },
          started,
          opts.force,
          {
            child: { hash: c.tiny.hash, hostKeyPub: c.tiny.hostKeyPub },
          },
        );
      },
    },
  ];
  return runBuild(steps, ctx, opts.quiet);
}

/** The image a spec names. */
export const buildImage = (name: ImageName, opts: { quiet?: boolean; force?: boolean } = {}) =>
  name === 'tiny-nest' ? buildNestImage(opts) : buildTinyImage(opts);

/** The child image a tiny-nest image carries (its hash and host key). */
export function childOf(img: Pick<BuiltImage, 'dir'>): { hash: string; hostKeyPub: string } | undefined {
  if (!existsSync(join(img.dir, 'manifest.json'))) return undefined;
  const raw = JSON.parse(readFileSync(join(img.dir, 'manifest.json'), 'utf8')) as { child?: { hash: string; hostKeyPub: string } };
  return raw.child;
}
