import { AlertProvider, HubProvider } from "@clinical-hub/client/react";
import { act, cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { AlertsPanel } from "../src/components/AlertsPanel";
import { ConnectionIndicator } from "../src/components/Header";
import { ALERTS_KEY, clearSession, SEQ_PREFIX, TOKEN_KEY } from "../src/lib/session";
import { AlertPersistence } from "../src/persistence";
import { RouterProvider } from "../src/router";
import { FakeHub, hospitalAlert, patientAlert } from "./fakeHub";

afterEach(cleanup);

function renderWith(hub: FakeHub, children: ReactNode) {
  return render(
    <HubProvider client={hub.asClient()}>
      <AlertProvider>
        <RouterProvider>{children}</RouterProvider>
      </AlertProvider>
    </HubProvider>,
  );
}

const items = () => screen.queryAllByTestId("alert-item");
const ids = () => items().map((el) => el.dataset.alertId);

describe("live alerts panel", () => {
  it("shows alerts newest first with their severity and attention cue", () => {
    const hub = new FakeHub();
    renderWith(hub, <AlertsPanel />);
    expect(screen.getByTestId("alerts-empty")).toBeTruthy();
    act(() => {
      hub.emit(patientAlert("a1", "warning", "P1", "H1", "2030-01-01T10:00:00Z"));
      hub.emit(hospitalAlert("a2", "emergency", "H1", "2030-01-01T10:05:00Z", "Code red, ED"));
      hub.emit(patientAlert("a3", "info", "P2", "H2", "2030-01-01T09:00:00Z"));
    });
    expect(ids()).toEqual(["a2", "a1", "a3"]);
    const [emergency, warning] = items();
    expect(emergency!.dataset.severity).toBe("emergency");
    expect(emergency!.className).toContain("attention");
    expect(within(emergency!).getByTestId("alert-message").textContent).toBe("Code red, ED");
    expect(warning!.className).not.toContain("attention");
    expect(screen.getByTestId("alert-count").textContent).toBe("3");
  });

  it("filters by hospital, patient and type", () => {
    const hub = new FakeHub();
    renderWith(hub, <AlertsPanel />);
    act(() => {
      hub.emit(patientAlert("a1", "critical", "P1", "H1", "2030-01-01T10:00:00Z"));
      hub.emit(patientAlert("a2", "warning", "P22", "H2", "2030-01-01T10:01:00Z"));
      hub.emit(hospitalAlert("a3", "capacity", "H2", "2030-01-01T10:02:00Z"));
    });
    fireEvent.change(screen.getByTestId("filter-hospital"), { target: { value: "H2" } });
    expect(ids()).toEqual(["a3", "a2"]);
    fireEvent.change(screen.getByTestId("filter-type"), { target: { value: "capacity" } });
    expect(ids()).toEqual(["a3"]);
    fireEvent.change(screen.getByTestId("filter-type"), { target: { value: "" } });
    fireEvent.change(screen.getByTestId("filter-hospital"), { target: { value: "" } });
    fireEvent.change(screen.getByTestId("filter-patient"), { target: { value: "p2" } });
    expect(ids()).toEqual(["a2"]);
    fireEvent.change(screen.getByTestId("filter-patient"), { target: { value: "nobody" } });
    expect(screen.getByTestId("alerts-empty").textContent).toContain("match");
  });

  it("acknowledges through the client and clears the alert", async () => {
    const hub = new FakeHub();
    renderWith(hub, <AlertsPanel />);
    act(() => {
      hub.emit(patientAlert("a1", "critical", "P1", "H1", "2030-01-01T10:00:00Z"));
      hub.emit(patientAlert("a2", "warning", "P2", "H1", "2030-01-01T10:01:00Z"));
    });
    const critical = items().find((el) => el.dataset.alertId === "a1")!;
    await act(async () => {
      fireEvent.click(within(critical).getByTestId("ack-button"));
    });
    expect(hub.acked).toEqual(["a1"]);
    expect(ids()).toEqual(["a2"]);
  });

  it("keeps the alert and says why when the hub refuses the acknowledgement", async () => {
    const hub = new FakeHub();
    hub.ackReply = () => ({ ok: false, error: "forbidden" });
    renderWith(hub, <AlertsPanel />);
    act(() => hub.emit(patientAlert("a1", "critical", "P1", "H1", "2030-01-01T10:00:00Z")));
    await act(async () => {
      fireEvent.click(screen.getByTestId("ack-button"));
    });
    expect(ids()).toEqual(["a1"]);
    expect(screen.getByTestId("ack-error").textContent).toContain("may not");
  });

  it("clears an alert acknowledged on another screen", () => {
    const hub = new FakeHub();
    renderWith(hub, <AlertsPanel />);
    act(() => {
      hub.emit(patientAlert("a1", "critical", "P1", "H1", "2030-01-01T10:00:00Z"));
      hub.emit(patientAlert("a2", "info", "P1", "H1", "2030-01-01T10:01:00Z"));
    });
    act(() =>
      hub.emit({
        id: "ack-1",
        seq: 500,
        type: "alert_acknowledged",
        version: 1,
        timestamp: "2030-01-01T10:02:00Z",
        received_at: "2030-01-01T10:02:00Z",
        source: "hub",
        alert_id: "a1",
        patient_id: "P1",
        hospital_id: "H1",
        alert_type: "critical",
        acknowledged_by: "nurse-2",
        acknowledged_role: "nurse",
        acknowledged_at: "2030-01-01T10:02:00Z",
      }),
    );
    expect(ids()).toEqual(["a2"]);
  });

  it("marks an escalated alert with its step, once", () => {
    const hub = new FakeHub();
    renderWith(hub, <AlertsPanel />);
    act(() => {
      hub.emit(patientAlert("a1", "warning", "P1", "H1", "2030-01-01T10:00:00Z", "NEWS2 6 (medium)"));
      hub.emit(patientAlert("a2", "info", "P2", "H1", "2030-01-01T10:01:00Z"));
    });
    act(() =>
      hub.emit({
        id: "esc-1",
        seq: 600,
        type: "alert_escalated",
        version: 1,
        timestamp: "2030-01-01T10:15:00Z",
        received_at: "2030-01-01T10:15:00Z",
        source: "escalation",
        alert_id: "a1",
        patient_id: "P1",
        hospital_id: "H1",
        step: 2,
        escalate_to: "charge_nurse",
        unacknowledged_s: 300,
        alert_type: "warning",
        alert_data: { message: "NEWS2 6 (medium)" },
      }),
    );
    expect(ids()).toEqual(["a1", "a2"]);
    const escalated = items()[0]!;
    expect(within(escalated).getByTestId("alert-escalated").textContent).toBe("escalated (step 2)");
    expect(within(escalated).getByTestId("alert-escalated").getAttribute("title")).toBe(
      "escalated to charge nurse",
    );
    expect(escalated.dataset.escalationStep).toBe("2");
    expect(escalated.className).toContain("attention");
    fireEvent.change(screen.getByTestId("filter-type"), { target: { value: "escalated" } });
    expect(ids()).toEqual(["a1"]);
  });

  it("never auto-dismisses: alerts stay until acknowledged, read or not", () => {
    const hub = new FakeHub();
    renderWith(hub, <AlertsPanel />);
    act(() => hub.emit(patientAlert("a1", "critical", "P1", "H1", "2030-01-01T10:00:00Z")));
    fireEvent.click(screen.getByTestId("mark-all-read"));
    expect(ids()).toEqual(["a1"]);
    expect(items()[0]!.dataset.unread).toBe("false");
  });
});

describe("hospital-wide alerts", () => {
  it("are dismissed on this screen, not acknowledged at the hub", () => {
    const hub = new FakeHub();
    renderWith(hub, <AlertsPanel />);
    act(() => hub.emit(hospitalAlert("h1", "emergency", "H1", "2030-01-01T10:00:00Z")));
    expect(screen.queryByTestId("ack-button")).toBeNull();
    fireEvent.click(screen.getByTestId("dismiss-button"));
    expect(ids()).toEqual([]);
    expect(hub.acked).toEqual([]);
  });

  it("give way to a newer capacity level and to a cleared system problem", () => {
    const hub = new FakeHub();
    renderWith(hub, <AlertsPanel />);
    const capacity = (id: string, level: string, unit: string, at: string) => ({
      ...hospitalAlert(id, "capacity", "H1", at),
      alert_data: { level, scope: "unit", unit, message: `${unit} ${level}` },
    });
    const system = (id: string, state: string, at: string) => ({
      ...hospitalAlert(id, "system", "H1", at),
      alert_data: { input: "mllp:pas", problem: "silent", state, message: `pas ${state}` },
    });
    act(() => {
      hub.emit(capacity("c1", "warning", "4E", "2030-01-01T10:00:00Z"));
      hub.emit(capacity("c2", "warning", "5W", "2030-01-01T10:01:00Z"));
      hub.emit(system("s1", "raised", "2030-01-01T10:02:00Z"));
      hub.emit(hospitalAlert("e1", "emergency", "H1", "2030-01-01T10:03:00Z"));
    });
    act(() => {
      hub.emit(capacity("c3", "critical", "4E", "2030-01-01T10:04:00Z"));
      hub.emit(system("s2", "cleared", "2030-01-01T10:05:00Z"));
    });
    expect(ids()).toEqual(["s2", "c3", "e1", "c2"]);
  });

  it("dismisses an alert the hub says it does not acknowledge", async () => {
    const hub = new FakeHub();
    hub.ackReply = () => ({ ok: false, error: "not_an_alert" });
    renderWith(hub, <AlertsPanel />);
    act(() => hub.emit(patientAlert("a1", "info", "P1", "H1", "2030-01-01T10:00:00Z")));
    await act(async () => {
      fireEvent.click(screen.getByTestId("ack-button"));
    });
    expect(ids()).toEqual([]);
  });
});

describe("a reload of the tab", () => {
  it("keeps unacknowledged alerts, in order, until they are acknowledged", async () => {
    sessionStorage.clear();
    const first = new FakeHub();
    const { unmount } = renderWith(
      first,
      <>
        <AlertPersistence />
        <AlertsPanel />
      </>,
    );
    act(() => {
      first.emit(patientAlert("a1", "critical", "P1", "H1", "2030-01-01T10:00:00Z"));
      first.emit(hospitalAlert("a2", "emergency", "H1", "2030-01-01T10:01:00Z"));
    });
    expect(ids()).toEqual(["a2", "a1"]);
    unmount();

    const second = new FakeHub();
    renderWith(
      second,
      <>
        <AlertPersistence />
        <AlertsPanel />
      </>,
    );
    expect(ids()).toEqual(["a2", "a1"]);
    const critical = items().find((el) => el.dataset.alertId === "a1")!;
    await act(async () => {
      fireEvent.click(within(critical).getByTestId("ack-button"));
    });
    expect(second.acked).toEqual(["a1"]);
    expect(JSON.parse(sessionStorage.getItem(ALERTS_KEY)!).map((a: { id: string }) => a.id)).toEqual(["a2"]);
  });

  it("forgets everything of the session at sign-out", () => {
    sessionStorage.setItem(TOKEN_KEY, "t");
    sessionStorage.setItem(ALERTS_KEY, "[]");
    sessionStorage.setItem(`${SEQ_PREFIX}patient_P1`, "12");
    sessionStorage.setItem("someone-else", "x");
    clearSession();
    expect(Object.keys(sessionStorage)).toEqual(["someone-else"]);
    sessionStorage.clear();
  });
});

describe("connection state", () => {
  it("shows the state, and the missed events replayed after a reconnect", () => {
    const hub = new FakeHub();
    renderWith(hub, <ConnectionIndicator />);
    const state = screen.getByTestId("connection-state");
    expect(state.dataset.state).toBe("connected");
    act(() => hub.setState("reconnecting"));
    expect(state.dataset.state).toBe("reconnecting");
    expect(state.textContent).toContain("reconnecting");
    act(() => {
      hub.setState("connected");
      hub.resume("hospital_H1", 3);
      hub.resume("patient_P1", 2);
    });
    expect(screen.getByTestId("resume-notice").textContent).toBe("resumed 5 missed events");
    act(() => {
      hub.setState("reconnecting");
      hub.setState("connected");
      hub.resume("hospital_H1", 1, true);
    });
    expect(screen.getByTestId("resume-notice").textContent).toBe("resumed 1 missed event");
    expect(screen.getByTestId("resume-truncated").textContent).toContain("hospital_H1");
  });
});
