// How far a guest's clock is from the host's, honestly bracketed: the guest's `date +%s` is
// read somewhere between the host's times before and after the exec that reads it (an exec
// through a TCG parent takes seconds), and busybox's `date` has whole seconds only.
import assert from 'node:assert/strict';

/** Fails unless the guest's clock, read by `readGuestS`, is within `tolS` of the host's at some moment of the read. */
export function assertClockWithin(vm: string, readGuestS: () => string, tolS: number): void {
  const before = Date.now() / 1000;
  const guest = Number(readGuestS().trim());
  const after = Date.now() / 1000;
  assert.ok(Number.isFinite(guest), `${vm}: no time read`);
  // The guest's true time lies in [guest, guest + 1); the host's moment of the read in [before, after].
  const behind = before - (guest + 1);
  const ahead = guest - after;
  assert.ok(
    behind <= tolS && ahead <= tolS,
    `${vm}'s clock is ${behind > 0 ? `${behind.toFixed(1)} s behind` : `${ahead.toFixed(1)} s ahead of`} the host's after resume (read over ${(after - before).toFixed(1)} s)`,
  );
}
