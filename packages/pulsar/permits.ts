/**
 * Pull-mode flow control of `PulsarConsumer`: how many permits to grant the broker, and when. A permit is
 * one Pulsar message, but a packed message holds up to 1000 records (packing.ts), so a queue of 1000
 * permits could bring a million records into memory at once (a consumer catching up on a backlog, whose
 * packs are full). The window grants by both counts: at most `queueSize` messages granted and not yet
 * taken (what the WebSocket proxy caps a consumer at, as before), and about `maxBufferedRecords` records
 * buffered or on the way, reckoned from a decaying average of records per message that starts pessimistic
 * (a full pack) and learns the topic's real size within a few dozen messages. Optionally also about
 * `maxBufferedBytes` bytes of messages, reckoned the same way: a record's size is the sender's, and a
 * backlog of packs of large records (a batch of 600 readings is ~14 KB) would otherwise bring in up to
 * `queueSize` full packs (1000 × 128 KiB) within the record count.
 *
 * @example
 * const permits = new PermitWindow(1000, 20_000);
 * permits.grant(0); // 20 at first; then, as messages arrive small, up to 1000
 */
export class PermitWindow {
  /** Granted and not yet taken by the application (buffered, or still with the broker). */
  private held = 0;
  /** Granted and not yet arrived. */
  private inFlight = 0;
  private perMessage: number;
  private bytesPerMessage: number;

  constructor(
    readonly queueSize: number,
    readonly maxBufferedRecords: number,
    /** Records per message assumed before any arrived: the largest pack, so a backlog of full packs is safe. */
    initialRecordsPerMessage = 1000,
    readonly maxBufferedBytes = Number.POSITIVE_INFINITY,
    /** Bytes per message assumed before any arrived: the largest pack (producer.ts `defaultPacking`, 128 KiB). */
    initialBytesPerMessage = 128 * 1024,
  ) {
    this.perMessage = Math.max(1, initialRecordsPerMessage);
    this.bytesPerMessage = Math.max(1, initialBytesPerMessage);
  }

  /** Records a message holds on average, as last learned. */
  get recordsPerMessage(): number {
    return this.perMessage;
  }

  /**
   * Permits to grant now, with `buffered` records waiting for the application; 0 for none. Grants in chunks
   * of at least half of what fits (one permit frame per message would double the frame count), and always
   * at least one when nothing is buffered or on the way, however large the messages.
   */
  grant(buffered: number, bufferedBytes = 0): number {
    const byQueue = this.queueSize - this.held;
    let byRecords = Math.floor((this.maxBufferedRecords - buffered) / this.perMessage) - this.inFlight;
    let byBytes = Math.floor((this.maxBufferedBytes - bufferedBytes) / this.bytesPerMessage) - this.inFlight;
    if (buffered === 0 && this.inFlight === 0) {
      byRecords = Math.max(1, byRecords);
      byBytes = Math.max(1, byBytes);
    }
    const n = Math.min(byQueue, byRecords, byBytes);
    const fits = Math.min(
      this.queueSize,
      Math.floor(this.maxBufferedRecords / this.perMessage),
      Math.floor(this.maxBufferedBytes / this.bytesPerMessage),
    );
    if (n < Math.max(1, Math.floor(fits / 2))) return 0;
    this.held += n;
    this.inFlight += n;
    return n;
  }

  /** A message of `records` records (and `bytes` bytes, when known) arrived. */
  arrived(records: number, bytes?: number): void {
    if (this.inFlight > 0) this.inFlight--;
    this.perMessage = Math.max(1, this.perMessage * 0.8 + Math.max(1, records) * 0.2);
    if (bytes !== undefined)
      this.bytesPerMessage = Math.max(1, this.bytesPerMessage * 0.8 + Math.max(1, bytes) * 0.2);
  }

  /** A message was taken (its last record handed out, or it needed no handing out). */
  taken(): void {
    if (this.held > 0) this.held--;
  }

  /** A new connection: nothing granted on it yet. */
  reset(): void {
    this.held = 0;
    this.inFlight = 0;
  }
}
