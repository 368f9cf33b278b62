import { describe, expect, it } from "vitest";
import { formatAgo, formatClock, formatWaiting, waitLevel } from "../src/lib/time";

const s = 1000;
const min = 60 * s;
const h = 60 * min;

describe("formatWaiting", () => {
  it("shows minutes and seconds under an hour, so it visibly ticks", () => {
    expect(formatWaiting(0)).toBe("0:00");
    expect(formatWaiting(59 * s)).toBe("0:59");
    expect(formatWaiting(4 * min + 7 * s)).toBe("4:07");
    expect(formatWaiting(59 * min + 59 * s + 999)).toBe("59:59");
  });
  it("shows hours and minutes under a day, days and hours beyond", () => {
    expect(formatWaiting(h)).toBe("1 h 00 min");
    expect(formatWaiting(2 * h + 5 * min + 30 * s)).toBe("2 h 05 min");
    expect(formatWaiting(24 * h)).toBe("1 d 0 h");
    expect(formatWaiting(50 * h)).toBe("2 d 2 h");
  });
  it("never shows a negative wait (clock skew)", () => {
    expect(formatWaiting(-5 * min)).toBe("0:00");
  });
});

describe("waitLevel", () => {
  it("is due from 75% of the priority's target and overdue past it", () => {
    expect(waitLevel(3, 30 * min)).toBe("ok");
    expect(waitLevel(3, 45 * min)).toBe("due");
    expect(waitLevel(3, 60 * min)).toBe("overdue");
    expect(waitLevel(2, 9 * min)).toBe("due");
    expect(waitLevel(2, 11 * min)).toBe("overdue");
  });
  it("treats priority 1 as immediate, and unknown priorities as ok", () => {
    expect(waitLevel(1, 0)).toBe("overdue");
    expect(waitLevel(null, 10 * h)).toBe("ok");
    expect(waitLevel(9, 10 * h)).toBe("ok");
  });
});

describe("formatAgo and formatClock", () => {
  it("reads like a person says it", () => {
    expect(formatAgo(10 * s)).toBe("just now");
    expect(formatAgo(5 * min)).toBe("5 min ago");
    expect(formatAgo(3 * h + 10 * min)).toBe("3 h ago");
    expect(formatAgo(50 * h)).toBe("2 d ago");
  });
  it("shows a time today and a date otherwise", () => {
    const now = new Date(2030, 0, 2, 15, 0).getTime();
    expect(formatClock(new Date(2030, 0, 2, 9, 5).toISOString(), now)).toBe("09:05");
    expect(formatClock(new Date(2030, 0, 1, 23, 59).toISOString(), now)).toBe("2030-01-01 23:59");
    expect(formatClock(null, now)).toBe("-");
    expect(formatClock("not a time", now)).toBe("-");
  });
});
