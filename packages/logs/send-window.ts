/**
 * The send window of a Pulsar log (pulsar-log.ts): how many records may be sent and not yet acknowledged
 * across all its publishes (`maxInFlight`), i.e. the log's backpressure.
 *
 * @example
 * const window = new SendWindow(1000);
 * const granted = window.take(records.length); // a number now, or a promise of one
 * const slots = typeof granted === "number" ? granted : await granted;
 * // send `slots` records; as their acks come back:
 * window.release(acked);
 */

/**
 * A FIFO window of sends in flight across publishes: slots freed while publishes wait go to the oldest
 * waiter, so a later publish cannot overtake an earlier one's records (per-key order). Slots are taken in
 * bulk (a publish takes all it can use at once) and a waiter is woken only once `wakeAt` slots are free
 * (or all it asked for): woken per freed slot, an unpacked log (one ack per record) would again cost a
 * promise per record under backpressure; waking at 1/8 of the window keeps 7/8 of it busy meanwhile.
 */
export class SendWindow {
  private free: number;
  private readonly waiters: Array<{ want: number; wake: (slots: number) => void }> = [];
  private readonly wakeAt: number;

  constructor(private readonly size: number) {
    this.free = size;
    this.wakeAt = Math.max(1, Math.ceil(size / 8));
  }

  /** Slots taken and not released. */
  get inFlight(): number {
    return this.size - this.free;
  }

  /** Takes up to `want` (≥ 1) slots: how many (≥ 1) now, or a promise of how many once enough are free. */
  take(want: number): number | Promise<number> {
    if (this.waiters.length === 0 && this.free >= Math.min(want, this.wakeAt)) {
      const slots = Math.min(want, this.free);
      this.free -= slots;
      return slots;
    }
    return new Promise<number>((wake) => this.waiters.push({ want, wake }));
  }

  release(slots: number): void {
    this.free += slots;
    while (this.waiters.length > 0) {
      const head = this.waiters[0]!;
      if (this.free < Math.min(head.want, this.wakeAt)) return;
      this.waiters.shift();
      const granted = Math.min(head.want, this.free);
      this.free -= granted;
      head.wake(granted);
    }
  }
}
