import type { Alert } from "@clinical-hub/client";
import { AlertProvider, HubProvider } from "@clinical-hub/client/react";
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { AlertsPanel } from "../src/components/AlertsPanel";
import { HospitalDataProvider } from "../src/data";
import { ApiError, type HubApi, type OpenAlertEvent, type OpenAlerts as OpenAlertList } from "../src/lib/api";
import { buildAlertViews } from "../src/lib/alerts";
import { alertsToAdd, LiveLedger, openAlertToNew } from "../src/lib/openAlerts";
import { decodeClaims } from "../src/lib/session";
import { OpenAlerts } from "../src/openAlerts";
import { RouterProvider } from "../src/router";
import { SessionProvider, type Session } from "../src/session";
import { FakeHub } from "./fakeHub";

afterEach(cleanup);

function wire(id: string, seq: number, over: Partial<OpenAlertEvent> = {}): OpenAlertEvent {
  const at = over.timestamp ?? `2030-01-01T10:${String(seq).padStart(2, "0")}:00Z`;
  return {
    id,
    seq,
    type: "patient_alert",
    version: 1,
    timestamp: at,
    received_at: at,
    source: "hl7_results",
    patient_id: "P1",
    hospital_id: "H1",
    alert_type: "critical",
    alert_data: { message: `alert ${id}` },
    ...over,
  };
}

function list(alerts: OpenAlertEvent[], hospital = "H1"): OpenAlertList {
  // the hub answers newest first
  return { hospital_id: hospital, since: "2029-12-31T10:00:00Z", seq: 100, alerts: [...alerts].sort((a, b) => b.seq - a.seq) };
}

const ack = (alertId: string, seq: number) => ({
  id: `ack-${alertId}`,
  seq,
  type: "alert_acknowledged",
  version: 1,
  timestamp: "2030-01-01T11:00:00Z",
  received_at: "2030-01-01T11:00:00Z",
  source: "console",
  alert_id: alertId,
  patient_id: "P1",
  hospital_id: "H1",
  alert_type: "critical",
  acknowledged_by: "nurse-2",
  acknowledged_role: "nurse",
  acknowledged_at: "2030-01-01T11:00:00Z",
});

describe("alertsToAdd", () => {
  it("turns the hub's open alerts into the entries live events would have made, oldest first", () => {
    const added = alertsToAdd([], list([wire("a1", 1), wire("a2", 2)]));
    expect(added.map((a) => a.id)).toEqual(["a1", "a2"]);
    expect(added[1]).toMatchObject({
      id: "a2",
      eventId: "a2",
      alertId: "a2",
      source: "patient_alert",
      type: "critical",
      message: "alert a2",
      patientId: "P1",
      hospitalId: "H1",
      read: false,
    });
    expect((added[1]!.data as { seq: number }).seq).toBe(2);
  });

  it("adds nothing already listed: by event id, or as the alert an escalation is about", () => {
    const existing = [
      { id: "a1", alertId: "a1", eventId: "a1", source: "patient_alert" },
      { id: "esc-9", alertId: "a3", eventId: "esc-9", source: "alert_escalated", data: { alert_id: "a3" } },
    ].map((a) => ({ type: "critical", title: "t", message: "m", timestamp: "2030-01-01T10:00:00Z", read: false, ...a })) as Alert[];
    const added = alertsToAdd(existing, list([wire("a1", 1), wire("a2", 2), wire("a3", 3)]));
    expect(added.map((a) => a.id)).toEqual(["a2"]);
    // and each once, even if the hub listed it twice
    expect(alertsToAdd([], list([wire("a2", 2), wire("a2", 2)])).map((a) => a.id)).toEqual(["a2"]);
  });

  it("keeps an escalated alert's step, shown as 'escalated (step N)'", () => {
    const escalated = wire("a1", 1, { escalation: { step: 2, escalate_to: "charge_nurse" } });
    const alert = openAlertToNew(escalated, "H1");
    expect(alert.escalationStep).toBe(2);
    const [view] = buildAlertViews([{ ...alert, id: alert.id!, read: false, timestamp: alert.timestamp! }]);
    expect(view).toMatchObject({ key: "a1", ackId: "a1", escalationStep: 2, attention: true, source: "patient_alert" });
  });

  it("takes the hospital asked for when the event does not name one", () => {
    const alert = openAlertToNew(wire("a1", 1, { hospital_id: null }), "H7");
    expect(alert.hospitalId).toBe("H7");
  });

  it("ignores entries that are not patient alerts", () => {
    const odd = { ...wire("x", 5), type: "hospital_alert" } as OpenAlertEvent;
    expect(alertsToAdd([], list([odd, { id: "y" } as OpenAlertEvent]))).toEqual([]);
  });

  it("does not bring back what the live stream closed while the list was loading", () => {
    const ledger = new LiveLedger();
    ledger.observe(ack("a1", 50));
    // a corrected result (seq 60) replaces the earlier alerts for the same observation
    ledger.observe({
      ...wire("c1", 60),
      alert_data: { message: "K 5.0", observation: "OBS-K", action: "supersede" },
    });
    const loaded = list([
      wire("a1", 1),
      wire("a2", 2),
      wire("k-old", 3, { alert_data: { message: "K 6.9", observation: "OBS-K" } }),
      wire("k-other", 4, { patient_id: "P2", alert_data: { message: "K 7", observation: "OBS-K" } }),
    ]);
    expect(alertsToAdd([], loaded, ledger).map((a) => a.id)).toEqual(["a2", "k-other"]);
  });
});

// --- in the console --------------------------------------------------------------------------

function jwt(payload: object): string {
  const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "");
  return `${b64({ alg: "HS256" })}.${b64(payload)}.sig`;
}

interface Calls {
  openAlerts: string[];
}

function fakeApi(openAlerts: HubApi["openAlerts"], calls: Calls): HubApi {
  const never = () => new Promise<never>(() => {});
  return {
    beds: never,
    staff: never,
    triage: never,
    history: never,
    historyAll: never,
    inbound: never,
    reprocess: never,
    opsStatus: never,
    openAlerts: (hospital, hours) => {
      calls.openAlerts.push(hospital);
      return openAlerts(hospital, hours);
    },
  };
}

let addHospital: (h: string) => void = () => {};

function Console({ hub, api }: { hub: FakeHub; api: HubApi }) {
  const [hospitals, setHospitals] = useState(["H1"]);
  addHospital = (h) => setHospitals((list) => [...list, h]);
  const token = jwt({ sub: "nurse-1", role: "nurse", hospitals: ["H1"], exp: 4_000_000_000 });
  const session: Session = {
    token,
    claims: decodeClaims(token)!,
    api,
    hospitals,
    hospital: "H1",
    setHospital: () => {},
    signOut: () => {},
  };
  return (
    <SessionProvider value={session}>
      <HubProvider client={hub.asClient()}>
        <AlertProvider maxAlerts={1000}>
          <HospitalDataProvider hospitals={hospitals}>
            <RouterProvider>
              <OpenAlerts hospitals={hospitals} />
              <AlertsPanel />
            </RouterProvider>
          </HospitalDataProvider>
        </AlertProvider>
      </HubProvider>
    </SessionProvider>
  );
}

const ids = () => screen.queryAllByTestId("alert-item").map((el) => el.dataset.alertId);

describe("open alerts of a screen opened mid-shift", () => {
  it("are loaded at sign-in, once the hospital's room is joined, escalated ones marked", async () => {
    const hub = new FakeHub();
    const calls: Calls = { openAlerts: [] };
    let joinedFirst = false;
    const api = fakeApi(async () => {
      joinedFirst = hub.joined.includes("hospital_H1");
      return list([wire("a1", 1), wire("a2", 2, { alert_type: "warning", escalation: { step: 1, escalate_to: "charge_nurse" } })]);
    }, calls);
    render(<Console hub={hub} api={api} />);
    await waitFor(() => expect(ids()).toEqual(["a2", "a1"]));
    expect(joinedFirst).toBe(true);
    expect(calls.openAlerts).toEqual(["H1"]);
    const escalated = screen.getAllByTestId("alert-item")[0]!;
    expect(within(escalated).getByTestId("alert-escalated").textContent).toBe("escalated (step 1)");
    expect(within(escalated).getByTestId("alert-escalated").getAttribute("title")).toBe("escalated to charge nurse");
    expect(screen.getByTestId("alert-count").textContent).toBe("2");

    // the same alert arriving live (a replay) is not doubled
    act(() => hub.emit(wire("a1", 1)));
    expect(ids()).toEqual(["a2", "a1"]);
    // they stay until acknowledged, from any screen
    act(() => hub.emit(ack("a1", 101)));
    expect(ids()).toEqual(["a2"]);
  });

  it("do not double what arrived live before the list did", async () => {
    const hub = new FakeHub();
    let answer!: (l: OpenAlertList) => void;
    const api = fakeApi(() => new Promise((r) => (answer = r)), { openAlerts: [] });
    render(<Console hub={hub} api={api} />);
    await waitFor(() => expect(answer).toBeTypeOf("function"));
    act(() => hub.emit(wire("a2", 2)));
    await act(async () => answer(list([wire("a1", 1), wire("a2", 2)])));
    expect(ids()).toEqual(["a2", "a1"]);
  });

  it("do not bring back an alert acknowledged while the list was on its way", async () => {
    const hub = new FakeHub();
    let answer!: (l: OpenAlertList) => void;
    const api = fakeApi(() => new Promise((r) => (answer = r)), { openAlerts: [] });
    render(<Console hub={hub} api={api} />);
    await waitFor(() => expect(answer).toBeTypeOf("function"));
    act(() => hub.emit(ack("a1", 101)));
    await act(async () => answer(list([wire("a1", 1), wire("a2", 2)])));
    expect(ids()).toEqual(["a2"]);
  });

  it("are loaded for a hospital added later, and again after a truncated resume", async () => {
    const hub = new FakeHub();
    const calls: Calls = { openAlerts: [] };
    const api = fakeApi(async (h) => list([wire(`${h}-a`, h === "H1" ? 1 : 2, { hospital_id: h })], h), calls);
    render(<Console hub={hub} api={api} />);
    await waitFor(() => expect(ids()).toEqual(["H1-a"]));
    act(() => addHospital("H2"));
    await waitFor(() => expect(ids()).toEqual(["H2-a", "H1-a"]));
    expect(calls.openAlerts).toEqual(["H1", "H2"]);

    // a resume that was not truncated needs nothing; a truncated hospital room reloads it
    act(() => hub.resume("hospital_H2", 3));
    act(() => hub.resume("hospital_H2", 0, true));
    await waitFor(() => expect(calls.openAlerts).toEqual(["H1", "H2", "H2"]));
    // a truncated patient room: every hospital
    act(() => hub.resume("patient_P1", 0, true));
    await waitFor(() => expect([...calls.openAlerts].sort()).toEqual(["H1", "H1", "H2", "H2", "H2"]));
    expect(ids()).toEqual(["H2-a", "H1-a"]);
  });

  it("say so when the list cannot be loaded, with a retry", async () => {
    const hub = new FakeHub();
    let fail = true;
    const api = fakeApi(async () => {
      if (fail) throw new ApiError(503, "unavailable", "journal busy");
      return list([wire("a1", 1)]);
    }, { openAlerts: [] });
    render(<Console hub={hub} api={api} />);
    const error = await screen.findByTestId("open-alerts-error");
    expect(error.textContent).toContain("503 unavailable: journal busy");
    fail = false;
    await act(async () => fireEvent.click(within(error).getByRole("button", { name: "Retry" })));
    await waitFor(() => expect(ids()).toEqual(["a1"]));
    expect(screen.queryByTestId("open-alerts-error")).toBeNull();
  });
});
