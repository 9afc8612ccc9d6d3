// The live lab page: one EventSource (the server's one reading per interval, pushed to every
// browser), cards built once per VM and updated in place, sparklines of the last minutes.
// Plain DOM, no library, nothing fetched but this server's own /events.

(() => {
  const token = new URLSearchParams(location.search).get('token') || '';
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const bytes = (n) => {
    if (n === undefined) return '–';
    let i = 0;
    while (n >= 1024 && i < UNITS.length - 1) {
      n /= 1024;
      i++;
    }
    return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${UNITS[i]}`;
  };
  const pct = (n) => (n === undefined ? '–' : `${Math.round(n)}%`);
  const ratio = (a, b) => (a === undefined || !b ? 0 : Math.max(0, Math.min(100, (a / b) * 100)));
  const ago = (s) =>
    s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;

  const history = new Map(); // VM → points {t, cpu, mem, rx, tx}
  const cards = new Map(); // VM → its elements
  let keep = 200;
  let intervalMs = 2000;
  let last;
  let netMax = 1024 * 1024;
  const gc = { renders: [], frames: 0 };
  window.__gc = gc;

  function row(card, label, kind) {
    const r = el('div', 'row');
    const bar = el('div', `bar ${kind}`);
    const fill = el('i');
    bar.append(fill);
    bar.setAttribute('role', 'meter');
    bar.setAttribute('aria-label', label);
    bar.setAttribute('aria-valuemin', '0');
    bar.setAttribute('aria-valuemax', '100');
    const value = el('span', 'v', '–');
    r.append(el('span', '', label), bar, value);
    card.append(r);
    return (percent, text) => {
      fill.style.width = `${percent}%`;
      bar.setAttribute('aria-valuenow', String(Math.round(percent)));
      value.textContent = text;
    };
  }

  function spark(card) {
    const s = document.createElementNS(SVG, 'svg');
    s.setAttribute('class', 'spark');
    s.setAttribute('viewBox', '0 0 100 100');
    s.setAttribute('preserveAspectRatio', 'none');
    s.setAttribute('aria-hidden', 'true');
    const lines = {};
    for (const k of ['mem', 'cpu']) {
      lines[k] = document.createElementNS(SVG, 'polyline');
      lines[k].setAttribute('class', k);
      s.append(lines[k]);
    }
    card.append(s, el('div', 'legend', `CPU (blue) and memory (green), last ${Math.round((keep * intervalMs) / 60000)} min`));
    return (points) => {
      for (const k of ['cpu', 'mem']) {
        const n = points.length;
        lines[k].setAttribute(
          'points',
          points
            .map((p, i) => (p[k] === undefined ? '' : `${n > 1 ? (i / (n - 1)) * 100 : 100},${100 - Math.max(0, Math.min(100, p[k]))}`))
            .filter(Boolean)
            .join(' '),
        );
      }
    };
  }

  function cardFor(v) {
    let c = cards.get(v.name);
    if (c) return c;
    const root = el('article', 'card');
    root.tabIndex = 0;
    root.dataset.vm = v.name;
    root.id = `vm-${v.name}`;
    const h = el('h3');
    const name = el('span', '', v.name);
    name.id = `vm-${v.name}-h`;
    root.setAttribute('aria-labelledby', name.id);
    const state = el('span', 'state');
    h.append(name, state);
    const where = el('p', 'where');
    root.append(h, where);
    c = { root, state, where, cpu: row(root, 'CPU', 'cpu'), qemu: row(root, 'QEMU', 'cpu'), mem: row(root, 'memory', 'mem') };
    c.root2 = row(root, 'root fs', 'disk');
    c.disk = row(root, 'disk file', 'disk');
    c.net = row(root, 'network', 'net');
    c.spark = spark(root);
    c.problems = el('p', 'problems');
    root.append(c.problems);
    cards.set(v.name, c);
    return c;
  }

  function rate(v, before, secs) {
    if (!before || !(secs > 0) || v.netRxBytes === undefined || before.netRxBytes === undefined) return undefined;
    const rx = (v.netRxBytes - before.netRxBytes) / secs;
    const tx = (v.netTxBytes - before.netTxBytes) / secs;
    return rx >= 0 && tx >= 0 ? { rx, tx } : undefined;
  }

  function update(v, before, secs) {
    const c = cardFor(v);
    c.root.dataset.state = v.state;
    c.root.dataset.cpu = v.cpuPercent === undefined ? '' : String(Math.round(v.cpuPercent));
    c.state.textContent = v.state;
    c.state.className = `state ${v.state}`;
    c.where.textContent = `${v.title ? `${v.title} · ` : ''}layer ${v.layer} · ${v.machine}${v.accel ? ` · ${v.accel}` : ''} · ${v.vcpus} vCPU · ${bytes(v.memoryBytes)}`;
    c.cpu(v.cpuPercent ?? 0, pct(v.cpuPercent));
    c.qemu(Math.min(100, (v.qemuCpuPercent ?? 0) / Math.max(1, v.vcpus)), v.qemuCpuPercent === undefined ? '–' : `${Math.round(v.qemuCpuPercent)}% of a core`);
    c.mem(ratio(v.memUsedBytes, v.memTotalBytes), v.memUsedBytes === undefined ? '–' : `${bytes(v.memUsedBytes)} / ${bytes(v.memTotalBytes)}`);
    c.root2(ratio(v.rootUsedBytes, v.rootTotalBytes), v.rootUsedBytes === undefined ? '–' : `${bytes(v.rootUsedBytes)} / ${bytes(v.rootTotalBytes)}`);
    c.disk(
      ratio(v.diskAllocatedBytes, v.diskVirtualBytes),
      v.diskAllocatedBytes === undefined ? bytes(v.diskVirtualBytes) : `${bytes(v.diskAllocatedBytes)} / ${bytes(v.diskVirtualBytes)}`,
    );
    const r = rate(v, before, secs);
    if (r) netMax = Math.max(netMax, r.rx, r.tx);
    c.net(r ? ratio(r.rx + r.tx, netMax) : 0, r ? `↓${bytes(r.rx)}/s ↑${bytes(r.tx)}/s` : v.sshRttMs === undefined ? '–' : `SSH ${Math.round(v.sshRttMs)} ms`);
    c.spark(history.get(v.name) || []);
    c.problems.textContent = v.problems?.length ? v.problems.join('; ') : '';
  }

  function renderTree(frame) {
    const byParent = new Map();
    for (const v of frame.vms) {
      const k = v.parent || '';
      if (!byParent.has(k)) byParent.set(k, []);
      byParent.get(k).push(v);
    }
    const list = (parent) => {
      const ul = el('ul');
      for (const v of byParent.get(parent) || []) {
        const li = el('li');
        li.dataset.vm = v.name;
        li.dataset.parent = v.parent || '';
        li.dataset.layer = String(v.layer);
        li.dataset.state = v.state;
        const a = el('a', '', v.name);
        a.href = `#vm-${v.name}`;
        const span = el('span');
        span.append(a, ' ', Object.assign(el('span', `state ${v.state}`, v.state)), ` ${v.machine}`);
        li.append(span);
        if (byParent.has(v.name)) li.append(list(v.name));
        ul.append(li);
      }
      return ul;
    };
    const tree = $('tree');
    tree.replaceChildren(...list('').children);
  }

  function render(frame) {
    const t0 = performance.now();
    const before = last ? new Map(last.vms.map((v) => [v.name, v])) : new Map();
    const secs = last ? (Date.parse(frame.time) - Date.parse(last.time)) / 1000 : 0;
    const t = Date.parse(frame.time);
    for (const v of frame.vms) {
      const pts = history.get(v.name) || [];
      const p = { t, cpu: v.cpuPercent, mem: v.memTotalBytes ? (v.memUsedBytes / v.memTotalBytes) * 100 : undefined };
      // The history a browser gets on connecting ends with the reading it gets next.
      if (!pts.length || pts[pts.length - 1].t !== t) pts.push(p);
      if (pts.length > keep) pts.splice(0, pts.length - keep);
      history.set(v.name, pts);
    }
    const structure = frame.vms.map((v) => `${v.name}/${v.parent || ''}/${v.state}`).join(',');
    if (!last || structure !== last.structure) renderTree(frame);
    frame.structure = structure;
    const order = frame.vms.map((v) => v.name);
    for (const v of frame.vms) update(v, before.get(v.name), secs);
    for (const [name, c] of cards)
      if (!order.includes(name)) {
        c.root.remove();
        cards.delete(name);
      }
    const box = $('cards');
    if ([...box.children].map((e) => e.dataset.vm).join(',') !== order.join(',')) box.replaceChildren(...order.map((n) => cards.get(n).root));
    last = frame;
    gc.frames++;
    gc.renders.push(performance.now() - t0);
    if (gc.renders.length > 1000) gc.renders.shift();
    const live = $('live');
    live.className = '';
    live.textContent = `live · reading ${frame.seq} at ${new Date(frame.time).toLocaleTimeString()} took ${frame.readMs} ms`;
  }
  gc.render = render;

  function renderShape(s) {
    $('host').textContent = `${s.host.title}: ${s.host.cpus} CPUs, ${bytes(s.host.memoryMiB * 1048576)}, ${s.host.accel}`;
    $('alloc').innerHTML = s.alloc;
    $('topology').innerHTML = s.topology;
    const box = $('snapshots');
    if (!s.snapshots.length) box.replaceChildren(el('p', 'muted', 'No snapshots.'));
    else {
      const table = el('table');
      const head = el('tr');
      for (const h of ['VM', 'name', 'taken', 'VM state', 'disk', 'age']) head.append(Object.assign(el('th', '', h), { scope: 'col' }));
      table.append(head);
      for (const x of s.snapshots) {
        const tr = el('tr');
        tr.append(el('td', '', x.vm), el('td', '', x.complete ? x.name : `${x.name} (partial)`), el('td', '', x.taken));
        tr.append(el('td', 'n', x.vmStateBytes ? bytes(x.vmStateBytes) : 'disk only'), el('td', 'n', bytes(x.diskBytes)), el('td', 'n', ago(x.ageS)));
        table.append(tr);
      }
      box.replaceChildren(table);
    }
    for (const u of s.unlisted) box.append(el('p', 'muted', `${u.vm}: ${u.why}`));
  }

  const events = new EventSource(`events?token=${encodeURIComponent(token)}`);
  const on = (name, fn) => events.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  on('hello', (h) => {
    intervalMs = h.intervalMs;
    keep = h.keep;
  });
  on('history', (h) => {
    for (const [name, pts] of Object.entries(h)) history.set(name, pts.slice(-keep));
  });
  on('shape', renderShape);
  on('frame', render);
  events.onerror = () => {
    const live = $('live');
    live.className = 'stale';
    live.textContent = 'the server does not answer; trying again…';
  };
  setInterval(() => {
    if (last && Date.now() - Date.parse(last.time) > 4 * intervalMs) {
      $('live').className = 'stale';
      $('live').textContent = `no reading for ${Math.round((Date.now() - Date.parse(last.time)) / 1000)} s`;
    }
  }, 1000);
})();
