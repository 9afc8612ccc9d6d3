// Trees (├─ └─, or +- \- in ASCII).  A node may have several lines (a box, say): the
// first takes the branch, the rest continue under it.  Lines are cut to the width.
import { glyphs, type ChartOptions } from './style.ts';
import { truncate } from './text.ts';

export interface TreeNode {
  label: string;
  children?: TreeNode[];
}

export function renderTree(roots: TreeNode[], opts: Partial<ChartOptions> = {}): string {
  const g = glyphs({ ascii: opts.ascii ?? false }).tree;
  const lines: string[] = [];
  const cut = (s: string) => (opts.width ? truncate(s, opts.width, opts.ascii) : s);
  const walk = (node: TreeNode, prefix: string, isLast: boolean, isRoot: boolean) => {
    const kids = node.children ?? [];
    const [first = '', ...rest] = node.label.split('\n');
    const childPrefix = isRoot ? '' : prefix + (isLast ? g.gap : g.pipe);
    lines.push(cut(isRoot ? first : prefix + (isLast ? g.last : g.mid) + first));
    // Continuation lines sit right under the node's first line; its children branch below them.
    for (const more of rest) lines.push(cut(childPrefix + more));
    for (const [i, k] of kids.entries()) walk(k, childPrefix, i === kids.length - 1, false);
  };
  for (const r of roots) walk(r, '', true, true);
  return lines.join('\n');
}
