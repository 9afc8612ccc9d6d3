// A tree as text (├─ └─, or +- \- in ASCII).  Pure: (nodes, options) → string.
export interface TreeNode {
  label: string;
  children?: TreeNode[];
}

export function renderTree(roots: TreeNode[], opts: { ascii?: boolean } = {}): string {
  const g = opts.ascii ? { mid: '+- ', last: '\\- ', pipe: '|  ', gap: '   ' } : { mid: '├─ ', last: '└─ ', pipe: '│  ', gap: '   ' };
  const lines: string[] = [];
  const walk = (node: TreeNode, prefix: string, isLast: boolean, isRoot: boolean) => {
    lines.push(isRoot ? node.label : prefix + (isLast ? g.last : g.mid) + node.label);
    const kids = node.children ?? [];
    const childPrefix = isRoot ? '' : prefix + (isLast ? g.gap : g.pipe);
    kids.forEach((k, i) => walk(k, childPrefix, i === kids.length - 1, false));
  };
  roots.forEach((r) => walk(r, '', true, true));
  return lines.join('\n');
}
