/** Times as a charge nurse reads them: waiting times that tick, clock times, "x min ago". */

export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

const pad = (n: number) => String(n).padStart(2, "0");

/**
 * A waiting time: `m:ss` under an hour (so it visibly ticks), `h h mm min` under a day,
 * `d d h h` beyond. Negative durations (clock skew, a future timestamp) show as `0:00`.
 */
export function formatWaiting(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600) % 24;
  const d = Math.floor(total / 86400);
  if (total < 3600) return `${Math.floor(total / 60)}:${pad(s)}`;
  if (total < 86400) return `${Math.floor(total / 3600)} h ${pad(m)} min`;
  return `${d} d ${h} h`;
}

/** "just now", "5 min ago", "2 h ago", "3 d ago". */
export function formatAgo(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** Local wall-clock time, HH:MM (and the date when it is not today). */
export function formatClock(iso: string | null | undefined, now: number = Date.now()): string {
  const ms = parseTime(iso);
  if (ms === null) return "-";
  const when = new Date(ms);
  const time = `${pad(when.getHours())}:${pad(when.getMinutes())}`;
  const today = new Date(now);
  if (when.toDateString() === today.toDateString()) return time;
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())} ${time}`;
}

/**
 * Minutes within which a case of this priority should be seen (Manchester / ESI-style
 * targets: 1 immediate, 2 within 10 min, 3 within 60, 4 within 120, 5 within 240).
 */
export const TRIAGE_TARGET_MIN: Record<number, number> = { 1: 0, 2: 10, 3: 60, 4: 120, 5: 240 };

export type WaitLevel = "ok" | "due" | "overdue";

/** `due` from 75 % of the target, `overdue` past it; priority 1 is always overdue-red. */
export function waitLevel(priority: number | null, waitedMs: number): WaitLevel {
  if (priority === null) return "ok";
  const target = TRIAGE_TARGET_MIN[priority];
  if (target === undefined) return "ok";
  const minutes = waitedMs / 60000;
  if (minutes >= target) return "overdue";
  if (minutes >= target * 0.75) return "due";
  return "ok";
}
