// A machine as `explain` and `doc` see it when it may not be running or reachable: what it
// says of itself and where a VM's files would be there; every verb that would ask it
// refuses, so a plan can never touch a machine by mistake.
import { TaskError } from '../util/errors.ts';
import type { Machine } from './machine.ts';

type Said = Pick<Machine, 'slow' | 'local' | 'readsHostFiles' | 'stashPath' | 'where' | 'inside' | 'installHint' | 'home' | 'ref'>;

export function planned(said: Said): Machine {
  const no = () => Promise.reject(new TaskError(`${said.inside ?? said.where} is not asked: planning only`));
  return {
    ...said,
    at: ` ${said.where}`,
    probe: no,
    sample: no,
    signal: no,
    qmp: no,
    dial: no,
    tail: no,
    fileSize: no,
    prepare: no,
    start: no,
    cleanRuntime: no,
    put: no,
    run: no,
  };
}
