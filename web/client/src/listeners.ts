// A set of callbacks where one throwing listener does not stop the others, and the error is
// still surfaced (rethrown asynchronously) instead of being swallowed.

export class Listeners<A extends unknown[]> {
  private readonly set = new Set<(...args: A) => void>();

  add(listener: (...args: A) => void): () => void {
    this.set.add(listener);
    return () => this.delete(listener);
  }

  delete(listener: (...args: A) => void): void {
    this.set.delete(listener);
  }

  get size(): number {
    return this.set.size;
  }

  emit(...args: A): void {
    // copy: a listener may unsubscribe itself (or others) while being called
    for (const listener of [...this.set]) {
      try {
        listener(...args);
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  clear(): void {
    this.set.clear();
  }
}
