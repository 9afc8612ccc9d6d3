// The QMP sequences that save a VM's devices and load them back (the RAM staying in its file),
// against a monitor that records what it is asked and answers as QEMU would.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { QmpClient } from '../../tasks/qemu/qmp.ts';
import { loadDevices, offersIgnoreShared, runOn, saveDevices } from '../../tasks/qemu/migrate.ts';

function monitor(migration: string[], caps = ['xbzrle', 'x-ignore-shared']) {
  const asked: string[] = [];
  let i = 0;
  const q = {
    async execute(command: string, args?: Record<string, unknown>) {
      asked.push(args ? `${command} ${JSON.stringify(args)}` : command);
      if (command === 'query-migrate-capabilities') return caps.map((capability) => ({ capability, state: false }));
      if (command === 'query-migrate') {
        const status = migration[Math.min(i++, migration.length - 1)]!;
        return status === 'failed' ? { status, 'error-desc': 'No space left on device' } : { status };
      }
      return {};
    },
  };
  return { q: q as unknown as QmpClient, asked };
}

const cap = (state: boolean) => `migrate-set-capabilities {"capabilities":[{"capability":"x-ignore-shared","state":${state}}]}`;

describe('saving and loading a VM’s devices', () => {
  it('probes the capability instead of assuming it', async () => {
    assert.equal(await offersIgnoreShared(monitor([]).q), true);
    assert.equal(await offersIgnoreShared(monitor([], ['xbzrle']).q), false);
  });

  it('saves: the guest stopped, shared RAM left out, the stream into the file (quoted for sh), until completed', async () => {
    const m = monitor(['setup', 'active', 'completed']);
    await saveDevices(m.q, "/state/it's/devices.state.tmp");
    assert.deepEqual(m.asked, [
      'stop',
      cap(true),
      `migrate {"uri":"exec:cat > '/state/it'\\\\''s/devices.state.tmp'"}`,
      'query-migrate',
      'query-migrate',
      'query-migrate',
    ]);
  });

  it('a save that fails says QEMU’s reason and lets the guest run on, the capability off again', async () => {
    const m = monitor(['active', 'failed']);
    await assert.rejects(saveDevices(m.q, '/s/d'), /saving the devices failed: No space left on device/);
    assert.deepEqual(m.asked.slice(-2), [cap(false), 'cont']);
  });

  it('loads: the capability on for the stream, off again before the guest runs (a later snapshot must hold the RAM)', async () => {
    const m = monitor(['active', 'completed']);
    await loadDevices(m.q, '/s/devices.state');
    assert.deepEqual(m.asked, [cap(true), `migrate-incoming {"uri":"exec:cat '/s/devices.state'"}`, 'query-migrate', 'query-migrate', cap(false), 'cont']);
  });

  it('lets a VM a cut-short save stopped run on', async () => {
    const m = monitor([]);
    await runOn(m.q);
    assert.deepEqual(m.asked, [cap(false), 'cont']);
  });
});
