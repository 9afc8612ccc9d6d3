// unlessLost: work on a machine is given up once that machine is lost, asked on a clock of its
// own; work on a machine that cannot be lost runs as it is.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MachineLost } from '../../tasks/util/errors.ts';
import { unlessLost } from '../../tasks/machine/machine-for.ts';
import type { Machine } from '../../tasks/machine/machine.ts';

const never = new Promise<string>(() => undefined);
const after = <T>(ms: number, value: T) => new Promise<T>((r) => setTimeout(() => r(value), ms));

/** A machine whose `lost` answers from `answers` in turn (the last one from then on), counting the asks. */
function losing(answers: Array<string | undefined>) {
  let asked = 0;
  const machine = { lost: async () => answers[Math.min(asked++, answers.length - 1)] } as unknown as Machine;
  return { machine, asked: () => asked };
}

describe('unlessLost', () => {
  it('rejects with the machine’s reason once it is lost, while the work still waits', async () => {
    const m = losing([undefined, undefined, "p's kernel panicked (Kernel panic - not syncing: NMI)"]);
    await assert.rejects(
      unlessLost(m.machine, never, 5),
      (err: Error) => err instanceof MachineLost && err.message === "p's kernel panicked (Kernel panic - not syncing: NMI)",
    );
    assert.equal(m.asked(), 3);
  });

  it('gives the work’s own answer, and asks no more once it has it', async () => {
    const m = losing([undefined]);
    assert.equal(await unlessLost(m.machine, after(30, 'powerdown'), 5), 'powerdown');
    const asked = m.asked();
    assert.ok(asked >= 1, 'the machine was never asked');
    await after(30, undefined);
    assert.equal(m.asked(), asked, 'still asking after the work ended');
  });

  it('passes the work’s own failure on, and a failed ask is no loss', async () => {
    const machine = { lost: () => Promise.reject(new Error('cannot read the console')) } as unknown as Machine;
    await assert.rejects(
      unlessLost(
        machine,
        after(20, undefined).then(() => Promise.reject(new Error('No response from server'))),
        5,
      ),
      /No response from server/,
    );
  });

  it('runs the work as it is on a machine that cannot be lost, or none', async () => {
    const work = after(5, 'quit');
    assert.equal(unlessLost({} as Machine, work), work);
    assert.equal(unlessLost(undefined, work), work);
  });
});
