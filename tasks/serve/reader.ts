// The one reading loop behind every browser and scrape: a reading per interval while somebody
// follows the page or scraped /metrics lately, none while nobody does.  The lab's agent
// answers a reading when it runs (its sessions are warm, and it serves chart-vm and watch
// too); else this process reads, its sessions kept open between readings, as `watch` does.
// A reading that fails (a VM crashed, the lab went down, a parent cannot be reached) is still
// a reading: each VM's state and reasons say what is wrong, and the next one tries again.
import type { LabResolved } from '../spec/tree.ts';
import type { VmStats } from '../stats/figures.ts';
import { collectStats } from '../stats/stats.ts';
import { SampleMemo } from '../stats/memo.ts';
import { SessionPool } from '../vm/session-pool.ts';
import { AGENT_WAIT_MS, agentEnabled, askAgent } from '../agent/client.ts';
import { History, machinesOf, vmView, type LabFrame } from './frame.ts';

/** How a reading is made: the lab's own (real VMs), or a bench's fake one. */
export type ReadStats = () => Promise<VmStats[]>;

/** The lab read for real: its agent when it runs, else here over kept-open sessions. */
export function labStats(lab: LabResolved, spec: string | undefined, intervalMs: number): { read: ReadStats; close: () => void } {
  const pool = new SessionPool();
  const memo = new SampleMemo(intervalMs + 10_000);
  const useAgent = spec !== '-' && agentEnabled();
  return {
    read: async () =>
      (useAgent ? await askAgent(lab.name, { op: 'stats', sampleMs: Math.min(intervalMs, 1000), spec }, AGENT_WAIT_MS) : undefined) ??
      (await collectStats(lab, undefined, { pool, memo })),
    close: () => pool.closeAll(),
  };
}

/** A scrape keeps the loop reading this long after it. */
const SCRAPE_KEEPS_MS = 60_000;

export class LabReader {
  latest?: LabFrame;
  readonly history: History;
  readings = 0;
  private readonly listeners = new Set<(f: LabFrame) => void>();
  private lastScrape = 0;
  private stopped = false;
  /** Ends the wait of a loop nobody wanted (a browser came); never the wait between readings, so N browsers cost one reading per interval. */
  private wakeIdle: () => void = () => {};
  private wakeTimer: () => void = () => {};
  private readonly machines: Map<string, string>;
  private loop?: Promise<void>;

  constructor(
    readonly lab: LabResolved,
    private readonly read: ReadStats,
    readonly intervalMs: number,
    private readonly onError: (err: Error) => void = () => {},
  ) {
    this.machines = machinesOf(lab);
    // A few minutes of points, whatever the interval.
    this.history = new History(Math.ceil(300_000 / intervalMs));
  }

  get clients(): number {
    return this.listeners.size;
  }

  private get wanted(): boolean {
    return this.listeners.size > 0 || Date.now() - this.lastScrape < SCRAPE_KEEPS_MS;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Every new reading, until the returned function is called. */
  follow(fn: (f: LabFrame) => void): () => void {
    this.listeners.add(fn);
    this.wakeIdle();
    return () => this.listeners.delete(fn);
  }

  /** A reading no older than two intervals, for a scrape: the latest, or the next one. */
  async fresh(): Promise<LabFrame> {
    this.lastScrape = Date.now();
    if (this.latest && Date.now() - Date.parse(this.latest.time) < 2 * this.intervalMs) return this.latest;
    return new Promise((resolve) => {
      const off = this.follow((f) => {
        off();
        resolve(f);
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeIdle();
    this.wakeTimer();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (!this.wanted) {
        await new Promise<void>((r) => {
          this.wakeIdle = r;
        });
        continue;
      }
      const t0 = Date.now();
      try {
        const stats = await this.read();
        const frame: LabFrame = {
          lab: this.lab.name,
          time: new Date().toISOString(),
          seq: ++this.readings,
          readMs: Date.now() - t0,
          vms: stats.map((s) => vmView(s, this.machines.get(s.name) ?? 'this host')),
        };
        this.latest = frame;
        this.history.add(frame);
        for (const fn of [...this.listeners]) fn(frame);
      } catch (err) {
        this.onError(err as Error);
      }
      if (this.stopped) break;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.max(0, this.intervalMs - (Date.now() - t0)));
        this.wakeTimer = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  }
}
