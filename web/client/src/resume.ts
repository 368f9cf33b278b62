// Gap-free resume: where each room is up to, and holding events back while the hub replays.
import type { HubEvent } from "./events.js";
import type { ResumeStore } from "./store.js";

/** Reported after a join that resumed with `since`, once its replay reached the handlers. */
export interface ResumeInfo {
  room: string;
  /** Events the hub replayed for this room (some may have been duplicates, dropped). */
  missed: number;
  /** `since` was older than the hub's retention: events were lost, reload the room. */
  truncated: boolean;
}

/** Last seq per room, cached in memory and written through to a ResumeStore. */
export class Positions {
  private readonly cache = new Map<string, number | undefined>();

  constructor(private readonly store: ResumeStore) {}

  get(room: string): number | undefined {
    if (!this.cache.has(room)) this.cache.set(room, this.store.get(room));
    return this.cache.get(room);
  }

  /** Moves forward only: a late or replayed event must never rewind a room. */
  advance(room: string, seq: number): void {
    const current = this.get(room);
    if (current === undefined || seq > current) {
      this.cache.set(room, seq);
      this.store.set(room, seq);
    }
  }

  /** Sets the position outright (an explicit `since` from the caller). */
  reset(room: string, seq: number): void {
    this.cache.set(room, seq);
    this.store.set(room, seq);
  }

  forget(room: string): void {
    this.cache.set(room, undefined);
    this.store.delete(room);
  }
}

/**
 * While any join with `since` is replaying, every incoming event is held; when the last such
 * join is acknowledged, the held events go out sorted by seq, then positions are committed and
 * `resumed` is reported.
 *
 * Why hold everything rather than one room's events: an event in two rooms arrives once, live
 * through one room while the other is still replaying older events, so per-room order can only
 * be restored by sorting across rooms. Why commit positions last: if the connection drops
 * mid-resume, the held events are discarded and must be replayed again, which they are only
 * if no position moved past them.
 */
export class ReplayGate {
  private pending = 0;
  private held: HubEvent[] = [];
  private positions = new Map<string, number>();
  private resumed: ResumeInfo[] = [];

  constructor(
    private readonly deliver: (event: HubEvent) => void,
    private readonly commit: (room: string, seq: number) => void,
    private readonly notify: (info: ResumeInfo) => void,
  ) {}

  get holding(): boolean {
    return this.pending > 0;
  }

  /** A join with `since` was sent: hold events until its acknowledgement. */
  open(): void {
    this.pending += 1;
  }

  offer(event: HubEvent): void {
    if (this.pending > 0) this.held.push(event);
    else this.deliver(event);
  }

  /** The hub says the client has every event of `room` up to `seq`. */
  position(room: string, seq: number): void {
    if (this.pending > 0) {
      this.positions.set(room, Math.max(seq, this.positions.get(room) ?? seq));
    } else {
      this.commit(room, seq);
    }
  }

  /** The join opened with `open()` is done (acknowledged, or failed for good). */
  close(info?: ResumeInfo): void {
    if (info) this.resumed.push(info);
    if (this.pending === 0) return;
    this.pending -= 1;
    if (this.pending === 0) this.flush();
  }

  /** The connection is gone: forget what was held; the next resume replays it. */
  reset(): void {
    this.pending = 0;
    this.held = [];
    this.positions = new Map();
    this.resumed = [];
  }

  private flush(): void {
    const held = this.held;
    const positions = this.positions;
    const resumed = this.resumed;
    this.reset();
    // Array.prototype.sort is stable, so equal seqs (cannot happen, but) keep arrival order.
    held.sort((a, b) => a.seq - b.seq);
    for (const event of held) this.deliver(event);
    for (const [room, seq] of positions) this.commit(room, seq);
    for (const info of resumed) this.notify(info);
  }
}
