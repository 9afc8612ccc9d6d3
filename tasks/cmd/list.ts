// `tasks`: the list of public tasks, as `bb tasks` prints it.
import { isPublic, renderTaskList, type TaskContext, type TaskDef } from '../cli/registry.ts';

export function run(ctx: TaskContext, tasks: TaskDef[]): void {
  const shown = tasks.filter(isPublic).map((t) => ({ name: t.name, doc: t.doc }));
  ctx.out.result(shown, () => renderTaskList(tasks));
}
