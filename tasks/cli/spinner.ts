// A spinner for one long wait (ora), only on a real terminal: ora hangs when stderr is a
// TTY with 0 columns, and pipes and CI want plain lines instead.
export interface Spinner {
  succeed(text: string): void;
  fail(text: string): void;
}

export async function spinner(text: string, quiet = false): Promise<Spinner> {
  const tty = process.stderr.isTTY && (process.stderr.columns ?? 0) > 0 && !process.env.CI;
  if (quiet) return { succeed() {}, fail() {} };
  if (!tty) {
    process.stderr.write(`${text}\n`);
    return { succeed: (t) => process.stderr.write(`${t}\n`), fail: (t) => process.stderr.write(`${t}\n`) };
  }
  const { default: ora } = await import('ora');
  const s = ora({ text, stream: process.stderr }).start();
  return { succeed: (t) => s.succeed(t), fail: (t) => s.fail(t) };
}
