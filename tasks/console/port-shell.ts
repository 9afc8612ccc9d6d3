// tasks/console/: the kit's shell on a guest's virtio-serial port — this host's end of it.
// A kit image runs a root shell on the port gc.shell, and its QEMU connects the port to two
// FIFOs, PATH.in and PATH.out, in the VM's 0700 folder (qemu/port-shell.ts).  A command line
// written into PATH.in runs in the guest; its output comes back on PATH.out, between a begin
// and an end mark of its own, the end mark carrying its exit status (as the NixOS test driver
// frames its backdoor shell's commands).  No handshake and no crypto: a resumed guest answers
// in milliseconds, where an SSH handshake into a nested guest under TCG takes about a second.
//
// A nested guest's pipe is a pair of FIFOs inside its parent: a command for it is written and
// read there by the parent's own shell (throughChild).  One caller at a time: the kit uses it
// under the lab's lock (resume), and each answer is matched by its own marks, so what an
// earlier, abandoned command left in a pipe is passed over.
import { closeSync, constants, openSync, statSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { shellQuote } from '../util/shell-quote.ts';
import { TaskError } from '../util/errors.ts';
import { shellPipe } from '../util/paths.ts';

export interface ShellAnswer {
  /** stdout and stderr, as they came. */
  out: string;
  code: number;
}

/** Off with GRAINCHART_PORT_SHELL=0: the kit then asks every guest over SSH. */
export const portShellsEnabled = () => process.env.GRAINCHART_PORT_SHELL !== '0';

/** Per answer: a tiny guest under TCG answers in tens of ms; past this a caller goes the SSH way. */
export const PORT_SHELL_ANSWER_MS = 5000;

const isFifo = (path: string) => statSync(path, { throwIfNoEntry: false })?.isFIFO() === true;

/** A fresh mark: no output of a command can hold it by chance. */
const newId = () => randomBytes(6).toString('hex');

/**
 * One command line for a port shell: its output framed by marks, its stdin not the port, in a
 * subshell (an `exit` in it ends that, not the port's shell).  A newline goes before the end
 * mark, so output without a last newline still ends its line.
 */
export const framed = (id: string, command: string) =>
  `echo gc-begin-${id}; ( ${command}\n) </dev/null 2>&1; gc_status=$?; echo; echo "gc-end-${id} $gc_status"\n`;

/** The answer framed by `id` in `text`, once its end mark is there. */
export function unframe(id: string, text: string): ShellAnswer | undefined {
  const end = new RegExp(`\\ngc-end-${id} (\\d+)\\n`).exec(text);
  if (!end) return undefined;
  const mark = `gc-begin-${id}\n`;
  const begin = text.lastIndexOf(mark, end.index);
  if (begin < 0) return undefined;
  return { out: text.slice(Math.min(begin + mark.length, end.index), end.index), code: Number(end[1]) };
}

/**
 * A command line for a parent's shell that runs `command` in its child, whose pipe is `childPipe`
 * there: written into the child's PATH.in, the child's lines read from PATH.out up to its end
 * mark and passed on.  Within `timeoutS`, or the parent's shell goes on (a dead child's pipe
 * would block it for good).  The child's answer is framed by `id`: unframe it from the output.
 */
export function throughChild(childPipe: string, id: string, command: string, timeoutS: number): string {
  const relay = 'printf "%s" "$1" > "$2.in" && while IFS= read -r l; do printf "%s\\n" "$l"; case "$l" in "gc-end-$3 "*) exit 0;; esac; done < "$2.out"';
  return `timeout ${timeoutS} sh -c ${shellQuote(relay)} - ${shellQuote(framed(id, command))} ${shellQuote(childPipe)} ${shellQuote(id)}`;
}

/** A command for a guest: `via` the pipes of the nested guests on the way (outermost first), [] for the guest itself. */
export interface ShellJob {
  via: string[];
  command: string;
}

/** One line for the top guest's shell that relays the job down its pipes, and the marks of its answer's frames, outermost first. */
function relayed(job: ShellJob, timeoutMs: number): { line: string; ids: string[] } {
  const timeoutS = Math.max(1, Math.ceil(timeoutMs / 1000));
  const ids = job.via.map(() => newId());
  let line = job.command;
  // Innermost first: each parent's shell relays the line for the one below it.
  for (let i = job.via.length - 1; i >= 0; i--) line = throughChild(job.via[i]!, ids[i]!, line, timeoutS);
  return { line, ids };
}

/** The innermost answer inside a relayed one. */
function unrelayed(ids: string[], answer: ShellAnswer, timeoutMs: number): ShellAnswer {
  for (const id of ids) {
    const inner = unframe(id, answer.out);
    if (!inner) throw new TaskError(`no answer through the port shells within ${timeoutMs} ms (${answer.code === 124 ? 'timed out' : `exit ${answer.code}`})`);
    answer = inner;
  }
  return answer;
}

/**
 * A command line that runs the lines side by side in the guest, each framed by its id into a
 * file of its own under /tmp (outputs written at once would interleave mid-line), then prints
 * them in turn once all are done.
 */
export function sideBySide(lines: Array<{ id: string; line: string }>): string {
  const files = lines.map((_, i) => `"$gc_d/${i}"`);
  const jobs = lines.map((l, i) => `( ${framed(l.id, l.line)}) >${files[i]} 2>&1 &`);
  return ['gc_d=$(mktemp -d) || exit 1', ...jobs, 'wait', `cat ${files.join(' ')}; rm -rf "$gc_d"`].join('\n');
}

/** This host's end of a top-level VM's port shell. */
export class PortShell {
  private buf = '';
  private readonly waiters = new Set<() => void>();
  private closed = false;

  private constructor(
    private readonly pipe: string,
    private readonly input: number,
    private readonly output: Socket,
  ) {
    output.setEncoding('utf8');
    output.on('data', (d: string) => {
      // Only the unanswered tail is kept: a long-running guest's old output is not.
      this.buf = (this.buf + d).slice(-1_000_000);
      for (const w of this.waiters) w();
    });
    output.on('error', () => undefined);
  }

  /**
   * The shell of a top-level VM whose QEMU runs on this host (its machine reads this host's
   * files), in its folder `vm`; undefined when port shells are off, its QEMU runs elsewhere, or
   * it has none.
   */
  static ofHostVm(machine: { readsHostFiles: boolean }, vm: { dir: string }): PortShell | undefined {
    return portShellsEnabled() && machine.readsHostFiles ? PortShell.open(shellPipe(vm)) : undefined;
  }

  /** The shell of the VM whose pipe is `pipe`, or undefined when its FIFOs are not there (a QEMU started without the port). */
  static open(pipe: string): PortShell | undefined {
    if (!isFifo(`${pipe}.in`) || !isFifo(`${pipe}.out`)) return undefined;
    // Read-write, as QEMU holds them: neither open blocks, and neither end ever reads an end of file.
    const input = openSync(`${pipe}.in`, constants.O_RDWR);
    const output = openSync(`${pipe}.out`, constants.O_RDWR | constants.O_NONBLOCK);
    return new PortShell(pipe, input, new Socket({ fd: output, readable: true, writable: false }));
  }

  /** Runs `command` in a child whose pipe is `childPipe` inside this guest (or deeper: `via` the pipes between, outermost first; [] for this guest). */
  async runIn(via: string[], command: string, timeoutMs: number): Promise<ShellAnswer> {
    const job = relayed({ via, command }, timeoutMs);
    // The relays give up first: the answer that comes is theirs to tell.
    return unrelayed(job.ids, await this.run(job.line, timeoutMs + 2000), timeoutMs);
  }

  /**
   * The jobs side by side, in one exchange with this guest's shell: all answer in about the
   * time of the slowest, not of each in turn (a resume asks every child of a parent at once).
   * Each job's answer, in order; a TaskError when one gave none in time.
   */
  async runAll(jobs: ShellJob[], timeoutMs: number): Promise<ShellAnswer[]> {
    if (jobs.length === 1) return [await this.runIn(jobs[0]!.via, jobs[0]!.command, timeoutMs)];
    const relays = jobs.map((job) => ({ ...relayed(job, timeoutMs), id: newId() }));
    const answer = await this.run(sideBySide(relays), timeoutMs + 2000);
    return relays.map((r) => {
      const own = unframe(r.id, answer.out);
      if (!own) throw new TaskError(`no answer from a job run side by side in the port shell ${this.pipe} (exit ${answer.code})`);
      return unrelayed(r.ids, own, timeoutMs);
    });
  }

  /** Runs `command` in the guest: its output and exit status, or a TaskError when no answer came within `timeoutMs`. */
  run(command: string, timeoutMs: number): Promise<ShellAnswer> {
    const id = newId();
    if (this.closed) return Promise.reject(new TaskError(`the port shell at ${this.pipe} is closed`));
    writeSync(this.input, framed(id, command));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new TaskError(`no answer on the port shell ${this.pipe} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        const answer = unframe(id, this.buf);
        if (!answer) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(answer);
      };
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.output.destroy();
    closeSync(this.input);
  }
}
