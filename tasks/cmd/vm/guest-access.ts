// `run-in VM -- SCRIPT`, `ssh VM` and `cp SRC DST` (VM:path on either side), over ssh2.
import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { connectGuest, vmTarget } from '../../vm/target.ts';
import { shellQuote } from '../../util/shell-quote.ts';
import { UsageError } from '../../util/errors.ts';
import { NAME_RE } from '../../spec/schema.ts';

export async function ssh(ctx: TaskContext): Promise<number> {
  const guest = await connectGuest(await vmTarget(ctx, ctx.args[0]!));
  try {
    if (!process.stdin.isTTY) {
      // No terminal: the commands come on stdin, as `ssh host < script` would run them.
      const r = await guest.exec('/bin/sh -s', { stdin: process.stdin, onStdout: (c) => process.stdout.write(c), onStderr: (c) => process.stderr.write(c) });
      return r.code < 0 ? 1 : r.code;
    }
    return await interactive(guest.client);
  } finally {
    guest.close();
  }
}

function interactive(client: import('ssh2').Client): Promise<number> {
  return new Promise((resolve, reject) => {
    const { columns: cols = 80, rows = 24 } = process.stdout;
    client.shell({ term: process.env.TERM ?? 'xterm', cols, rows }, (err, stream) => {
      if (err) return reject(err);
      let code = 0;
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.pipe(stream);
      stream.pipe(process.stdout);
      stream.stderr.pipe(process.stderr);
      const resize = () => stream.setWindow(process.stdout.rows ?? 24, process.stdout.columns ?? 80, 0, 0);
      process.stdout.on('resize', resize);
      stream.on('exit', (c: number | null) => (code = c ?? 0));
      stream.on('close', () => {
        process.stdout.off('resize', resize);
        process.stdin.unpipe(stream);
        process.stdin.setRawMode(false);
        process.stdin.pause();
        resolve(code);
      });
    });
  });
}

export interface CopyEnd {
  vm?: string;
  path: string;
}

/** `vm:path` names a guest path; anything else is local (a `./` prefix forces local). */
export function parseCopyEnd(arg: string): CopyEnd {
  const m = /^([^/:]+):(.*)$/.exec(arg);
  if (m && NAME_RE.test(m[1]!)) {
    if (!m[2]) throw new UsageError(`cp: ${arg} names no path in ${m[1]}`);
    // A guest path says where it means: "..", climbing out of wherever the session starts, is refused.
    if (m[2].split('/').includes('..')) throw new UsageError(`cp: ${arg}: ".." is not allowed in a guest path`, 'give the path from / (e.g. vm:/root/file)');
    return { vm: m[1], path: m[2] };
  }
  if (!arg) throw new UsageError('cp: empty path');
  return { path: arg };
}

export async function cp(ctx: TaskContext): Promise<void> {
  const [src, dst] = [parseCopyEnd(ctx.args[0]!), parseCopyEnd(ctx.args[1]!)];
  if (!!src.vm === !!dst.vm)
    throw new UsageError('cp: exactly one side must be VM:path', 'npx tsx tasks.ts cp ./file vm:/root/file  or  cp vm:/etc/os-release ./');
  const name = (src.vm ?? dst.vm)!;
  const guest = await connectGuest(await vmTarget(ctx, name));
  try {
    if (dst.vm) await guest.put(src.path, dst.path);
    else await guest.get(src.path, dst.path);
  } finally {
    guest.close();
  }
  const local = dst.vm ? src.path : dst.path;
  const result = { from: ctx.args[0], to: ctx.args[1], bytes: statSync(local).size };
  ctx.out.result(result, () => `copied ${result.bytes} bytes: ${result.from} → ${result.to}`);
}

/**
 * `run-in VM -- SCRIPT [ARGS...]`: copy a local script into the guest over SFTP, run it
 * there (its #! line picks the interpreter; without one, sh), stream its output, and exit
 * with its exit code.  The copy goes to a fresh folder under /tmp and is removed after.
 */
export async function runIn(ctx: TaskContext): Promise<number> {
  const [name, script, ...args] = ctx.args;
  if (!script) throw new UsageError('run-in: no script given', 'npx tsx tasks.ts run-in VM -- ./check.sh [ARGS...]');
  let size: number;
  try {
    const st = statSync(script);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new UsageError(`run-in: cannot read the script ${script}: ${(err as Error).message}`);
  }
  const hasShebang = readFileSync(script).subarray(0, 2).toString() === '#!';
  const guest = await connectGuest(await vmTarget(ctx, name!));
  try {
    const dir = (await guest.succeed('mktemp -d /tmp/gc-run-XXXXXX')).trim();
    const remote = `${dir}/${basename(script).replace(/[^\w.-]/g, '_') || 'script'}`;
    try {
      await guest.put(script, remote);
      const command = `chmod 700 ${shellQuote(remote)} && ${hasShebang ? '' : 'sh '}${[remote, ...args].map(shellQuote).join(' ')}`;
      if (ctx.json) {
        const r = await guest.exec(command);
        ctx.out.result({ vm: name, script, bytes: size, args, ...r });
        return r.code < 0 ? 1 : r.code;
      }
      const r = await guest.exec(command, { onStdout: (c) => process.stdout.write(c), onStderr: (c) => process.stderr.write(c) });
      return r.code < 0 ? 1 : r.code;
    } finally {
      await guest.exec(`rm -rf ${shellQuote(dir)}`).catch(() => undefined);
    }
  } finally {
    guest.close();
  }
}
