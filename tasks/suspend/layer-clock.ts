// What a resume asks of each running layer, whichever way it reaches it (an SSH session, or
// the kit's port shell): one round trip that reads the guest's time, sets the host's (as root,
// or through sudo), runs `uname -a` as `up` asks of every layer, and reads its uptime — which
// tells a guest that went on from one that restarted instead.
import { TaskError } from '../util/errors.ts';
import type { LabResolved, VmPlace } from '../spec/tree.ts';

export interface LayerReady {
  vm: string;
  /** How far the guest's clock was behind the host's before it was set, in seconds. */
  clockBehindS: number;
  /** Until the layer answered, from the start of the resume. */
  readyS: number;
  /** How the kit reached it: over SSH, or through the port shells. */
  via: 'ssh' | 'port-shell';
}

/**
 * The command, for the host's time `now` (seconds).  GNU date takes it to the millisecond,
 * busybox's (the tiny guests) whole seconds only.  Builtins where they do (read): each fork
 * costs milliseconds in a guest under TCG.
 */
export function clockCommand(now: number): string {
  const set = `{ date -u -s @${now.toFixed(3)} || date -u -s @${Math.round(now)}; }`;
  return `date +%s; { ${set} || sudo -n sh -c '${set}'; } >/dev/null 2>&1 && echo set || echo unset; uname -a >/dev/null; read -r u _ < /proc/uptime; echo "$u"`;
}

/**
 * The layer's answer read: how far behind it was, and when it answered.  A guest that restarted
 * instead of going on (QEMU reset it after the load) has been up only since this resume began;
 * a resumed one for as long as it had been when saved (`expectedUptimeS`).
 */
export function layerReady(
  lab: LabResolved,
  place: VmPlace,
  out: string,
  now: number,
  t0: number,
  via: LayerReady['via'],
  expectedUptimeS?: number,
  warn?: (m: string) => void,
): LayerReady {
  const [before, done, uptime] = out.trim().split('\n');
  const since = (Date.now() - t0) / 1000;
  if (expectedUptimeS !== undefined && expectedUptimeS > since + 5 && Number(uptime) < since + 2)
    throw new TaskError(
      `${place.vm.name} restarted instead of resuming: up ${Number(uptime).toFixed(0)} s, where the saved state was ${expectedUptimeS.toFixed(0)} s in`,
      { hint: `its saved state is kept: resume again, or boot it cold (npx tsx tasks.ts up ${lab.name} --cold)` },
    );
  if (done !== 'set')
    warn?.(
      `${place.vm.name}: could not set its clock (${Math.round(now - Number(before))} s behind): ${place.vm.ssh.user} is not root and has no sudo without a password`,
    );
  return { vm: place.vm.name, clockBehindS: Math.max(0, Math.round(now - Number(before))), readyS: (Date.now() - t0) / 1000, via };
}
