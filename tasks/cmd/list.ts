// tasks/cmd/: the tasks themselves, thin — each parses its arguments, calls the rooms below and
// prints; cmd/lab/ acts on labs, cmd/vm/ on one VM, the rest on the kit.
//
// `tasks`: the list of public tasks, as `bb tasks` prints it.
import { isPublic, renderTaskList, type TaskContext, type TaskDef } from '../cli/registry.ts';

export function run(ctx: TaskContext, tasks: TaskDef[]): void {
  const shown = tasks.filter(isPublic).map((t) => ({ name: t.name, doc: t.doc }));
  ctx.out.result(shown, () => renderTaskList(tasks));
}
