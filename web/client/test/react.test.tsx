// @vitest-environment happy-dom
// The React bindings rendered for real (react-dom in happy-dom) against a real hub.
import type { ReactNode } from "react";
import { flushSync } from "react-dom";
import { createRoot, type Root } from "react-dom/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHubClient, type HubClient } from "../src/index.js";
import {
  AlertProvider,
  HubProvider,
  useAlerts,
  useHubEvent,
  useSocketIO,
  type AlertContextValue,
  type UseSocketIO,
} from "../src/react/index.js";
import { sleep, TestHub, uid, waitFor } from "./hub.js";

// Updates come from socket events, as in a browser, not from act() scopes: let React schedule
// them itself and poll for the outcome.
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;

let hub: TestHub;
beforeAll(async () => {
  hub = await new TestHub().start();
});
afterAll(async () => {
  await hub?.dispose();
});

function render(node: ReactNode): Root {
  const root = createRoot(document.createElement("div"));
  flushSync(() => root.render(node));
  return root;
}

const until = (check: () => boolean, what: string): Promise<true> => waitFor(check, what);

describe("react bindings", () => {
  it("useSocketIO follows the connection; useHubEvent and AlertProvider receive events", async () => {
    const H = uid("H");
    const P = uid("P");
    const token = await hub.token({ sub: "doc-r", role: "doctor", hospitals: [H], patients: [P] });
    const client: HubClient = createHubClient({ url: hub.url, token });
    let io: UseSocketIO | undefined;
    let alerts: AlertContextValue | undefined;
    const risks: number[] = [];
    let renders = 0;

    function Probe() {
      renders += 1;
      io = useSocketIO();
      alerts = useAlerts();
      // a new handler each render: the hook must keep the subscription and call the latest
      useHubEvent("risk_updated", (e) => risks.push(e.risk_score));
      return null;
    }

    const root = render(
      <HubProvider client={client}>
        <AlertProvider>
          <Probe />
        </AlertProvider>
      </HubProvider>,
    );
    try {
      expect(io?.state).toBe("disconnected");
      expect(io?.isConnected).toBe(false);
      await client.connect();
      await until(() => io?.state === "connected", "the state re-render");
      expect(io?.connection?.user_id).toBe("doc-r");
      await io?.joinHospitalUpdates(H);
      await io?.joinPatientMonitoring(P);

      const warning = await hub.post("patient_alert", {
        patient_id: P,
        alert_type: "warning",
        alert_data: { message: "NEWS2 5" },
      });
      const emergency = await hub.post("hospital_alert", {
        hospital_id: H,
        alert_type: "emergency",
        alert_data: { message: "Code red, ED" },
      });
      await hub.post("risk_updated", { patient_id: P, risk_score: 0.81, risk_level: "high" });
      await until(() => alerts?.alerts.length === 2 && risks.length === 1, "alerts and risk");

      expect(risks).toEqual([0.81]);
      expect(alerts?.unreadCount).toBe(2);
      expect(alerts?.alerts.map((a) => [a.id, a.type, a.title, a.message])).toEqual([
        [emergency.id, "emergency", `Hospital ${H}`, "Code red, ED"],
        [warning.id, "warning", `Patient ${P}`, "NEWS2 5"],
      ]);
      alerts?.markAllRead();
      await until(() => alerts?.unreadCount === 0, "all read");
      alerts?.removeAlert(warning.id);
      await until(() => alerts?.alerts.length === 1, "the removal");
      expect(alerts?.alerts.map((a) => a.id)).toEqual([emergency.id]);

      const local = alerts?.addAlert({ type: "info", source: "ui", title: "Saved", message: "ok" });
      await until(() => alerts?.alerts[0]?.id === local?.id, "the local alert");
      const result = await alerts?.acknowledge(local?.id ?? "");
      expect(result).toEqual({ ok: true, local: true });
      await until(() => alerts?.alerts.length === 1, "the local alert acknowledged");
      expect(alerts?.alerts.map((a) => a.id)).toEqual([emergency.id]);
      expect(renders).toBeLessThan(40);
    } finally {
      root.unmount();
      client.disconnect();
    }
  });

  it("AlertProvider never auto-dismisses critical alerts", async () => {
    const P = uid("P");
    const token = await hub.token({ sub: "doc-c", role: "doctor", patients: [P] });
    const client = createHubClient({ url: hub.url, token });
    let alerts: AlertContextValue | undefined;
    function Probe() {
      alerts = useAlerts();
      return null;
    }
    const root = render(
      <HubProvider client={client}>
        <AlertProvider autoDismissMs={300}>
          <Probe />
        </AlertProvider>
      </HubProvider>,
    );
    try {
      await client.connect();
      await client.joinPatientRoom(P);
      const critical = await hub.post("patient_alert", { patient_id: P, alert_type: "critical" });
      const info = await hub.post("patient_alert", { patient_id: P, alert_type: "info" });
      await until(() => alerts?.alerts.length === 2, "both alerts");
      await until(() => alerts?.alerts.length === 1, "the info alert dismissed");
      await sleep(500);
      expect(alerts?.alerts.map((a) => a.id)).toEqual([critical.id]);
      expect(info.id).not.toBe(critical.id);
    } finally {
      root.unmount();
      client.disconnect();
    }
  });
});
