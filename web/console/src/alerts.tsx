import { useAlerts, useHubEvent } from "@clinical-hub/client/react";
import { useCallback, useMemo } from "react";
import {
  buildAlertViews,
  isAcknowledgeable,
  supersededBy,
  type AlertView,
} from "./lib/alerts";

export type AckResult = { ok: true } | { ok: false; error: string };

/** The alerts panel's view of the client's alert list, with escalations folded in. */
export function useAlertViews() {
  const alerts = useAlerts();
  const views = useMemo(
    () => buildAlertViews(alerts.alerts),
    [alerts.alerts],
  );
  const unread = useMemo(() => views.filter((v) => v.unread).length, [views]);

  const remove = useCallback(
    (view: AlertView) => {
      for (const id of view.ids) alerts.removeAlert(id);
    },
    [alerts],
  );

  // Acknowledged here or on any other screen: the client drops the alert itself; its
  // escalations, folded into it here, go too.
  useHubEvent("alert_acknowledged", (event) => {
    for (const view of views) if (view.key === event.alert_id) remove(view);
  });

  // A hospital alert that states a newer condition replaces the one it updates: a capacity
  // level for the same unit, a system problem of the same input cleared. Emergencies stay.
  useHubEvent("hospital_alert", (event) => {
    for (const view of supersededBy(views, event)) remove(view);
  });

  /** Patient alerts are acknowledged at the hub; hospital alerts are dismissed here. */
  const acknowledge = useCallback(
    async (view: AlertView): Promise<AckResult> => {
      if (!isAcknowledgeable(view)) {
        remove(view);
        return { ok: true };
      }
      const reply = await alerts.acknowledge(view.ackId);
      if (reply.ok) {
        remove(view);
        return { ok: true };
      }
      if (reply.error === "not_an_alert") {
        remove(view); // the hub keeps no acknowledgement for it: dismiss it here
        return { ok: true };
      }
      return { ok: false, error: reply.error };
    },
    [alerts, remove],
  );

  const markRead = useCallback(
    (view: AlertView) => {
      for (const id of view.ids) alerts.markRead(id);
    },
    [alerts],
  );

  return { views, unread, acknowledge, markRead, markAllRead: alerts.markAllRead, remove };
}
