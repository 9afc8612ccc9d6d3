// `ssh VM`: a shell in a VM over a session of its own (ssh2) — a pty on a terminal, else the
// commands on stdin.  Not through the lab agent: its frames carry no stdin or terminal.
import type { TaskContext } from '../../cli/registry.ts';
import { connectGuest, vmTarget } from '../../vm/target.ts';

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
