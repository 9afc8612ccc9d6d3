// `image [tiny|tiny-nest|debian|debian-nest]`: build (or find in the cache) one of the kit's images.
import type { TaskContext } from '../cli/registry.ts';
import { UsageError } from '../util/errors.ts';
import { buildImage, buildTinyImage, imagePaths } from '../image/build.ts';
import { buildDebianImage } from '../image/debian.ts';
import { formatBytes } from '../spec/size.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const name = ctx.args[0] ?? 'tiny';
  if (!['tiny', 'tiny-nest', 'debian', 'debian-nest'].includes(name))
    throw new UsageError(`no image named ${JSON.stringify(name)}`, 'images: tiny, tiny-nest, debian, debian-nest');
  const started = Date.now();
  if (name === 'debian' || name === 'debian-nest') {
    const img = await buildDebianImage({ quiet: ctx.quiet, force: ctx.opts.force === true, kind: name });
    const seconds = (Date.now() - started) / 1000;
    ctx.out.result({ ...img, seconds }, () =>
      [
        `${name} image ${img.hash}${img.cached ? ' (cached)' : ''} in ${img.dir}`,
        `  kernel     ${img.kernelVersion}`,
        `  root disk  ${img.rootDisk}`,
        `  ${img.cached ? 'looked up' : 'built'} in ${seconds.toFixed(1)} s`,
        `  boot it with boot: { cloudImage: "${name}" }`,
      ].join('\n'),
    );
    return;
  }
  if (name === 'tiny-nest') {
    const img = await buildImage('tiny-nest', { quiet: ctx.quiet, force: ctx.opts.force === true });
    ctx.out.result({ ...img, paths: imagePaths(img) }, `tiny-nest image ${img.hash}${img.cached ? ' (cached)' : ''} in ${img.dir}`);
    return;
  }
  const img = await buildTinyImage({ quiet: ctx.quiet, force: ctx.opts.force === true });
  const seconds = (Date.now() - started) / 1000;
  const paths = imagePaths(img);
  ctx.out.result({ ...img, paths, seconds }, () =>
    [
      `tiny image ${img.hash}${img.cached ? ' (cached)' : ''} in ${img.dir}`,
      `  kernel     ${img.kernelVersion}  ${formatBytes(img.sizes.kernel)}`,
      `  initramfs  ${formatBytes(img.sizes.initrd)} (whole guest), ${formatBytes(img.sizes.initrdDisk ?? img.sizes.initrd)} (for the root disk)`,
      `  root disk  ${formatBytes(img.sizes.rootDisk)} (qcow2)`,
      `  host key   ${img.hostKeyPub.slice(0, 40)}…`,
      `  ${img.cached ? `looked up in ${seconds.toFixed(2)} s (built in ${img.buildSeconds.toFixed(1)} s)` : `built in ${seconds.toFixed(1)} s`}`,
    ].join('\n'),
  );
}
