/**
 * Unacknowledged alerts survive a reload of the tab: they are kept in sessionStorage and put
 * back before the client reconnects; the client then resumes each room from its last position,
 * so what happened meanwhile (new alerts, acknowledgements from other screens) follows.
 */

import type { NewAlert } from "@clinical-hub/client";
import { useAlerts } from "@clinical-hub/client/react";
import { useEffect, useRef } from "react";
import { ALERTS_KEY, storage } from "./lib/session";

const KEEP = 500;

export function loadAlerts(store: Storage | null = storage()): NewAlert[] {
  try {
    const raw = store?.getItem(ALERTS_KEY);
    const parsed: unknown = raw ? JSON.parse(raw) : [];
    return Array.isArray(parsed)
      ? parsed.filter(
          (a): a is NewAlert =>
            typeof a === "object" && a !== null && typeof (a as NewAlert).title === "string",
        )
      : [];
  } catch {
    return [];
  }
}

export function AlertPersistence() {
  const { alerts, addAlert } = useAlerts();
  const restored = useRef(false);
  useEffect(() => {
    if (restored.current) return;
    restored.current = true;
    // oldest first: the store puts each added alert on top
    for (const alert of loadAlerts().reverse()) addAlert(alert);
  }, [addAlert]);
  useEffect(() => {
    if (!restored.current) return;
    try {
      storage()?.setItem(ALERTS_KEY, JSON.stringify(alerts.slice(0, KEEP)));
    } catch {
      /* full or disabled storage: a reload then starts empty */
    }
  }, [alerts]);
  return null;
}
