// Boxes: a title in the top border and lines inside, sized to their content and the width.
import { glyphs, type ChartOptions } from './style.ts';
import { fit, width } from './text.ts';

export function renderBox(title: string, body: string[], o: Pick<ChartOptions, 'ascii' | 'width'>): string {
  const b = glyphs(o).box;
  const inner = Math.max(4, Math.min(o.width - 4, Math.max(width(title) + 3, ...body.map(width))));
  const top = `${b.tl}${b.h} ${fit(title, Math.min(width(title), inner - 3), o.ascii)} ${b.h.repeat(Math.max(0, inner - 1 - Math.min(width(title), inner - 3)))}${b.tr}`;
  const rows = body.map((l) => `${b.v} ${fit(l, inner, o.ascii)} ${b.v}`);
  return [top, ...rows, `${b.bl}${b.h.repeat(inner + 2)}${b.br}`].join('\n');
}
