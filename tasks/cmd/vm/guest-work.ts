// A caller's work in one VM — commands and copies — through the lab agent's open session
// when it takes each step, else over a session of this process's own, opened at the first
// step the agent did not take (none, refused, busy with another caller) and kept for the rest.
// The same output and exit codes either way: both run the step on an ssh2 session.
import { resolve } from 'node:path';
import type { TaskContext } from '../../cli/registry.ts';
import { copyThroughAgent, execThroughAgent, type ExecAnswer } from '../../agent/exec-client.ts';
import type { Guest } from '../../ssh/guest.ts';

export interface StreamTo {
  onStdout?: (c: Buffer) => void;
  onStderr?: (c: Buffer) => void;
}

export class GuestWork {
  private direct?: Promise<Guest>;
  private readonly where: { vm: string; lab?: string; spec?: string };

  constructor(
    private readonly ctx: TaskContext,
    vm: string,
  ) {
    this.where = { vm, ...(ctx.opts.lab ? { lab: ctx.opts.lab as string } : {}), ...(ctx.spec ? { spec: resolve(ctx.spec) } : {}) };
  }

  /** A spec on stdin is read once, here: the agent cannot read it again, so it is never asked. */
  private get agentMayAnswer() {
    return this.ctx.spec !== '-';
  }

  private session(): Promise<Guest> {
    this.direct ??= import('../../vm/target.ts').then(async ({ connectGuest, vmTarget }) => connectGuest(await vmTarget(this.ctx, this.where.vm)));
    return this.direct;
  }

  async exec(command: string, io: StreamTo = {}): Promise<ExecAnswer> {
    const via = this.agentMayAnswer ? await execThroughAgent({ ...this.where, command }, io) : undefined;
    return via ?? (await this.session()).exec(command, io);
  }

  /** `local` to `remote` in the VM; `local` absolute. */
  async put(local: string, remote: string): Promise<void> {
    if (this.agentMayAnswer && (await copyThroughAgent({ ...this.where, direction: 'put', local, remote }))) return;
    await (await this.session()).put(local, remote);
  }

  /** `remote` in the VM to `local`; `local` absolute. */
  async get(remote: string, local: string): Promise<void> {
    if (this.agentMayAnswer && (await copyThroughAgent({ ...this.where, direction: 'get', local, remote }))) return;
    await (await this.session()).get(remote, local);
  }

  close(): void {
    this.direct?.then((g) => g.close()).catch(() => undefined);
  }
}
