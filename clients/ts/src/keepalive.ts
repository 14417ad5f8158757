// One timer per client keeps every session of the client alive.

/** What the keeper refreshes: a session, by a function of its own. */
export interface Refreshable {
  /** Refreshes; resolves true to keep going, false when the session is gone for good. */
  refresh(timeoutMs: number): Promise<boolean>;
  readonly ended: boolean;
}

interface Entry {
  s: Refreshable;
  intervalMs: number;
  next: number;
}

/**
 * Keeper refreshes the client's sessions, each at its own interval, from one
 * timer armed for the earliest due session: a session costs an entry, not a
 * timer of its own. A refresh runs without waiting for the others, so a slow
 * one delays no other. The timer is unref'd in Node, so it never keeps a
 * process alive by itself.
 */
export class Keeper {
  private entries = new Set<Entry>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private armedFor = Infinity;
  private closed = false;
  private inflight = new Set<Promise<void>>();

  add(s: Refreshable, intervalMs: number): object {
    const e: Entry = { s, intervalMs, next: Date.now() + intervalMs };
    this.entries.add(e);
    this.arm();
    return e;
  }

  remove(handle: object): void {
    this.entries.delete(handle as Entry);
    if (this.entries.size === 0) this.disarm();
  }

  /** Timers currently armed (0 or 1), for tests. */
  get timers(): number {
    return this.timer === undefined ? 0 : 1;
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.entries.clear();
    this.disarm();
    await Promise.allSettled([...this.inflight]);
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private arm(): void {
    if (this.closed || this.entries.size === 0) return;
    let earliest = Infinity;
    for (const e of this.entries) earliest = Math.min(earliest, e.next);
    if (this.timer !== undefined && earliest >= this.armedFor) return;
    this.disarm();
    this.armedFor = earliest;
    this.timer = setTimeout(() => this.fire(), Math.max(0, earliest - Date.now()));
    (this.timer as { unref?: () => void }).unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = Date.now();
    for (const e of [...this.entries]) {
      if (e.next > now) continue;
      this.entries.delete(e);
      const p = this.refresh(e);
      this.inflight.add(p);
      void p.finally(() => this.inflight.delete(p));
    }
    this.arm();
  }

  private async refresh(e: Entry): Promise<void> {
    let again = true;
    try {
      again = await e.s.refresh(Math.max(e.intervalMs, 1000));
    } catch {
      // A transient failure (a restart, a network blip) is retried at the
      // next interval.
    }
    if (!again || this.closed || e.s.ended) return;
    e.next = Date.now() + e.intervalMs;
    this.entries.add(e);
    this.arm();
  }
}
