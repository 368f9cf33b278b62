// Bounded memory of delivered event ids. Replays overlap (an event in two resumed rooms, or
// delivered live just before a disconnect), and handlers must see each event once.

export class RecentIds {
  // A Map iterates in insertion order, which makes it an LRU with O(1) eviction.
  private readonly ids = new Map<string, true>();

  constructor(readonly capacity = 10_000) {
    if (!(capacity >= 1)) throw new RangeError("capacity must be at least 1");
  }

  get size(): number {
    return this.ids.size;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Remembers `id`; returns false when it was already known (a duplicate). */
  add(id: string): boolean {
    if (this.ids.has(id)) {
      // refresh: an id still being replayed should outlive ones that are not
      this.ids.delete(id);
      this.ids.set(id, true);
      return false;
    }
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.keys().next();
      if (!oldest.done) this.ids.delete(oldest.value);
    }
    return true;
  }

  clear(): void {
    this.ids.clear();
  }
}
