import { AlertProvider, HubProvider } from "@clinical-hub/client/react";
import { act, cleanup, render, screen, waitFor, within } from "@testing-library/react";
import type { ReactNode } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { RiskChart } from "../src/components/RiskChart";
import { HospitalDataProvider } from "../src/data";
import type { HubApi } from "../src/lib/api";
import { riskPoint } from "../src/lib/news2";
import { decodeClaims } from "../src/lib/session";
import { Header } from "../src/components/Header";
import { BedBoardPage } from "../src/pages/BedBoardPage";
import { LAST_ACTIVITY_HELP, OperatorPage } from "../src/pages/OperatorPage";
import { TriagePage, TriageRow } from "../src/pages/TriagePage";
import { RouterProvider } from "../src/router";
import { SessionProvider, type Session } from "../src/session";
import { FakeHub } from "./fakeHub";

afterEach(cleanup);

function jwt(payload: object): string {
  const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "");
  return `${b64({ alg: "HS256" })}.${b64(payload)}.sig`;
}

function fakeApi(over: Partial<HubApi>): HubApi {
  const never = () => new Promise<never>(() => {});
  return {
    beds: never,
    staff: never,
    triage: never,
    openAlerts: never,
    history: never,
    historyAll: never,
    inbound: never,
    reprocess: never,
    opsStatus: never,
    ...over,
  };
}

function renderScreen(hub: FakeHub, api: HubApi, children: ReactNode, role = "nurse") {
  const token = jwt({ sub: "nurse-1", role, hospitals: ["H1"], exp: 4_000_000_000 });
  const session: Session = {
    token,
    claims: decodeClaims(token)!,
    api,
    hospitals: ["H1"],
    hospital: "H1",
    setHospital: () => {},
    signOut: () => {},
  };
  return render(
    <SessionProvider value={session}>
      <HubProvider client={hub.asClient()}>
        <AlertProvider>
          <HospitalDataProvider hospitals={["H1"]}>
            <RouterProvider>{children}</RouterProvider>
          </HospitalDataProvider>
        </AlertProvider>
      </HubProvider>
    </SessionProvider>,
  );
}

describe("bed board", () => {
  it("shows beds by unit, coloured by status, and follows bed_status_changed", async () => {
    const hub = new FakeHub();
    const api = fakeApi({
      beds: async () => ({
        hospital_id: "H1",
        beds: [
          { bed_id: "4E-01", status: "occupied", patient_id: "P1", unit: "4E", hospital_id: "H1", seq: 1 },
          { bed_id: "4E-02", status: "available", unit: "4E", hospital_id: "H1", seq: 2 },
          { bed_id: "ED-1", status: "cleaning", unit: "ED", hospital_id: "H1", seq: 3 },
        ],
      }),
      staff: async () => ({
        hospital_id: "H1",
        on_duty: { doctor: 1, nurse: 0, other: 0 },
        on_duty_total: 1,
        staff: [{ staff_id: "D1", staff_type: "doctor", available: true, seq: 4 }],
      }),
      triage: async () => ({ hospital_id: "H1", seq: 10, complete: true, cases: [] }),
    });
    renderScreen(hub, api, <BedBoardPage hospital="H1" />);
    const bed2 = await screen.findByTestId("bed-H1-4E-02");
    expect(bed2.dataset.status).toBe("available");
    expect(bed2.className).toContain("bed-status-available");
    expect(screen.getByTestId("bed-H1-4E-01").dataset.patient).toBe("P1");
    expect(screen.getByTestId("occupancy-H1-4E").textContent).toContain("1/2");
    expect(screen.getByTestId("on-duty-H1-doctor").textContent).toBe("1");
    // the console watches the occupant's room so their alerts reach the panel
    await waitFor(() => expect(hub.joined).toContain("patient_P1"));
    expect(hub.joined).toEqual(expect.arrayContaining(["hospital_H1", "triage_queue"]));

    act(() =>
      hub.emit({
        id: "b1",
        seq: 20,
        type: "bed_status_changed",
        version: 1,
        timestamp: "2030-01-01T10:00:00Z",
        received_at: "2030-01-01T10:00:00Z",
        source: "feed",
        hospital_id: "H1",
        bed_info: { bed_id: "4E-02", status: "occupied", patient_id: "P9", unit: "4E" },
      }),
    );
    expect(screen.getByTestId("bed-H1-4E-02").dataset.status).toBe("occupied");
    expect(screen.getByTestId("occupancy-H1-4E").textContent).toContain("2/2");
    await waitFor(() => expect(hub.joined).toContain("patient_P9"));

    act(() =>
      hub.emit({
        id: "c1",
        seq: 21,
        type: "hospital_alert",
        version: 1,
        timestamp: "2030-01-01T10:00:01Z",
        received_at: "2030-01-01T10:00:01Z",
        source: "capacity",
        hospital_id: "H1",
        alert_type: "capacity",
        alert_data: { level: "critical", scope: "unit", unit: "4E", occupancy: 1, message: "Unit 4E at 100%" },
      }),
    );
    expect(screen.getByTestId("capacity-H1-4E").dataset.level).toBe("critical");
    expect(screen.getByTestId("capacity-H1").dataset.level).toBe("none");
  });
});

describe("bed tiles", () => {
  it("keep a long bed id inside the tile, with the whole id in a title", async () => {
    const long = "ICU-NORTH-WING-ISOLATION-BAY-0042-B";
    const api = fakeApi({
      beds: async () => ({
        hospital_id: "H1",
        beds: [{ bed_id: long, status: "occupied", patient_id: "P-WITH-A-RATHER-LONG-IDENTIFIER", unit: "ICU", hospital_id: "H1", seq: 1 }],
      }),
      staff: async () => ({ hospital_id: "H1", on_duty: {}, on_duty_total: 0, staff: [] }),
    });
    renderScreen(new FakeHub(), api, <BedBoardPage hospital="H1" />);
    const id = await screen.findByTestId(`bed-id-H1-${long}`);
    expect(id.getAttribute("title")).toBe(long);
    expect(id.className).toBe("bed-id");
    expect(screen.getByTestId(`bed-patient-H1-${long}`).getAttribute("title")).toBe(
      "P-WITH-A-RATHER-LONG-IDENTIFIER",
    );
  });
});

describe("header", () => {
  it("draws the unread badge's bell as an inline SVG hidden from screen readers, no emoji", () => {
    renderScreen(new FakeHub(), fakeApi({}), <Header />);
    const badge = screen.getByTestId("alert-badge");
    const bell = within(badge).getByTestId("bell-icon");
    expect(bell.tagName.toLowerCase()).toBe("svg");
    expect(bell.getAttribute("aria-hidden")).toBe("true");
    expect(badge.textContent).toBe("0");
    expect(badge.getAttribute("aria-label")).toBe("0 unread alerts");
    expect(badge.textContent).not.toMatch(/\p{Extended_Pictographic}/u);
  });
});

describe("operator page", () => {
  it("calls an input's last_activity 'Last activity' and explains it", async () => {
    const api = fakeApi({
      opsStatus: async () => ({
        node: { name: "n1", node_id: "abc", version: "1.0", uptime_s: 60 },
        journal: { backend: "sqlite", last_seq: 1 },
        inputs: [
          { name: "mllp:default", kind: "mllp", healthy: true, problem: null, problems: [], last_activity: new Date().toISOString(), max_silence_s: 600 },
        ],
        messages: {
          window_s: 300,
          events: { total: 0, per_min: 0, by_type: {} },
          inputs: { total: 0, per_min: 0, by_adapter_outcome: {} },
          input_errors: { total: 0, per_min: 0, by_adapter_reason: {} },
          deliveries: { total: 0, per_min: 0, by_mode: {} },
          duplicates: 0,
          plugin_errors: 0,
        },
        inbound_errors: { count: 0, capped: false, list: "/api/inbound?status=error" },
        realtime: { connected_clients: 1, rooms: 1, rooms_by_kind: {} },
      }),
      inbound: async () => ({ entries: [], next_since: 0 }),
    });
    renderScreen(new FakeHub(), api, <OperatorPage />, "admin");
    const heading = await screen.findByTestId("ops-last-activity-heading");
    expect(heading.textContent).toBe("Last activity");
    expect(heading.getAttribute("title")).toBe(LAST_ACTIVITY_HELP);
    expect(LAST_ACTIVITY_HELP).toMatch(/started/);
    expect(screen.getByTestId("ops-inputs").textContent).not.toContain("Last message");
  });
});

describe("triage queue", () => {
  it("lists open cases by status and follows triage_updated", async () => {
    const hub = new FakeHub();
    const opened = new Date(Date.now() - 5 * 60_000).toISOString();
    const api = fakeApi({
      beds: async () => ({ hospital_id: "H1", beds: [] }),
      staff: async () => ({ hospital_id: "H1", on_duty: {}, on_duty_total: 0, staff: [] }),
      triage: async () => ({
        hospital_id: "H1",
        seq: 10,
        complete: true,
        cases: [
          {
            triage_id: "T1",
            patient_id: "P1",
            hospital_id: "H1",
            status: "pending",
            priority: 2,
            since: opened,
            opened_at: opened,
            seq: 5,
          },
        ],
      }),
    });
    renderScreen(hub, api, <TriagePage hospital="H1" />);
    const row = await screen.findByTestId("triage-case-T1");
    expect(row.dataset.status).toBe("pending");
    expect(screen.getByTestId("triage-wait-T1").textContent).toMatch(/^5:0\d$/);
    act(() =>
      hub.emit({
        id: "t2",
        seq: 30,
        type: "triage_updated",
        version: 1,
        timestamp: new Date().toISOString(),
        received_at: new Date().toISOString(),
        source: "ed",
        triage_id: "T1",
        status: "assigned",
        patient_id: "P1",
        hospital_id: "H1",
        priority: 2,
      }),
    );
    expect(screen.getByTestId("triage-case-T1").dataset.status).toBe("assigned");
    expect(screen.getByTestId("triage-column-assigned").textContent).toContain("P1");
    act(() =>
      hub.emit({
        id: "t3",
        seq: 31,
        type: "triage_updated",
        version: 1,
        timestamp: new Date().toISOString(),
        received_at: new Date().toISOString(),
        source: "ed",
        triage_id: "T1",
        status: "completed",
        patient_id: "P1",
        hospital_id: "H1",
      }),
    );
    expect(screen.queryByTestId("triage-case-T1")).toBeNull();
  });

  it("is closed to non-clinical roles", () => {
    renderScreen(new FakeHub(), fakeApi({}), <TriagePage hospital="H1" />, "porter");
    expect(screen.getByTestId("triage-forbidden")).toBeTruthy();
  });

  it("ticks the waiting time and flags overdue cases", () => {
    const opened = "2030-01-01T10:00:00Z";
    const triage = {
      triage_id: "T7",
      patient_id: "P7",
      hospital_id: "H1",
      status: "pending" as const,
      priority: 2,
      since: opened,
      opened_at: opened,
    };
    const start = Date.parse(opened);
    const { rerender } = render(
      <RouterProvider>
        <table>
          <tbody>
            <TriageRow triage={triage} now={start + 65_000} />
          </tbody>
        </table>
      </RouterProvider>,
    );
    expect(screen.getByTestId("triage-wait-T7").textContent).toBe("1:05");
    expect(screen.getByTestId("triage-case-T7").className).toContain("wait-ok");
    rerender(
      <RouterProvider>
        <table>
          <tbody>
            <TriageRow triage={triage} now={start + 12 * 60_000} />
          </tbody>
        </table>
      </RouterProvider>,
    );
    expect(screen.getByTestId("triage-wait-T7").textContent).toBe("12:00");
    expect(screen.getByTestId("triage-case-T7").className).toContain("wait-overdue");
  });
});

describe("risk chart", () => {
  it("draws one dot per score, higher scores higher up", () => {
    const points = [3, 8].map(
      (total, i) =>
        riskPoint({
          id: `r${i}`,
          seq: i,
          timestamp: `2030-01-01T1${i}:00:00Z`,
          risk_score: total / 20,
          risk_level: total >= 7 ? "high" : "low",
          explanation: { total, parameters: {} },
        })!,
    );
    render(<RiskChart points={points} selected="r1" onSelect={() => {}} />);
    const dots = screen.getAllByTestId("risk-point");
    expect(dots.map((d) => d.getAttribute("data-value"))).toEqual(["3", "8"]);
    const [low, high] = dots.map((d) => Number(d.getAttribute("cy")));
    expect(high!).toBeLessThan(low!);
    expect(dots[1]!.getAttribute("class")).toContain("band-high");
    expect(screen.getByTestId("risk-chart").dataset.points).toBe("2");
  });
});
