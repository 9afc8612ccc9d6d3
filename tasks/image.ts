// `image`: build (or find in the cache) the embedded tiny guest image.
import type { TaskContext } from './kit/registry.ts';
import { buildTinyImage, imagePaths } from './image/build.ts';
import { formatBytes } from './kit/size.ts';

export async function run(ctx: TaskContext): Promise<void> {
  const started = Date.now();
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
