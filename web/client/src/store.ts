// Where resume positions (last seq per room) live. Synchronous on purpose: positions are
// written as events are delivered, and localStorage is synchronous anyway.

export interface ResumeStore {
  get(room: string): number | undefined;
  set(room: string, seq: number): void;
  delete(room: string): void;
}

export function memoryStore(): ResumeStore {
  const positions = new Map<string, number>();
  return {
    get: (room) => positions.get(room),
    set: (room, seq) => void positions.set(room, seq),
    delete: (room) => void positions.delete(room),
  };
}

/** Minimal Storage surface, so tests and non-browser hosts can pass their own. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Positions in localStorage, so a reloaded page resumes where it left off. A storage that
 * throws (quota, private mode) degrades to forgetting, which only costs a larger replay.
 */
export function localStorageStore(
  prefix = "clinical-hub:seq:",
  storage: StorageLike | undefined = (globalThis as { localStorage?: StorageLike }).localStorage,
): ResumeStore {
  if (!storage) throw new Error("localStorageStore: no localStorage here; pass a storage");
  return {
    get(room) {
      try {
        const raw = storage.getItem(prefix + room);
        const seq = raw === null ? NaN : Number(raw);
        return Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
      } catch {
        return undefined;
      }
    },
    set(room, seq) {
      try {
        storage.setItem(prefix + room, String(seq));
      } catch {
        /* see above */
      }
    },
    delete(room) {
      try {
        storage.removeItem(prefix + room);
      } catch {
        /* see above */
      }
    },
  };
}
