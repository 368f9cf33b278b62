/**
 * The whole console against a real hub, in happy-dom (no browser needed):
 *
 *   HUB_URL=http://127.0.0.1:5099 NURSE=$(hub token --sub nurse-1 --role nurse --hospital H1) \
 *   SERVICE=$(hub token --sub svc --role service) ADMIN=$(hub token --sub ops --role admin) \
 *   npm run test:live
 *
 * With a hub whose escalation is quick (HUB_ALERTS__ESCALATION_AFTER_S='[2]'
 * HUB_ALERTS__ESCALATION_TO='["charge_nurse"]'), ESCALATION=1 also checks escalated alerts.
 *
 * It publishes events over HTTP with the service token and watches the screens follow.
 */
import { act, cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterAll, describe, expect, it } from "vitest";
import { App } from "../src/App";

const HUB = process.env.HUB_URL ?? "http://127.0.0.1:5000";
const NURSE = process.env.NURSE ?? "";
const SERVICE = process.env.SERVICE ?? "";
const ADMIN = process.env.ADMIN ?? "";
const run = `${Date.now().toString(36)}`;
const H = "H1";

async function publish(type: string, body: object): Promise<void> {
  const r = await fetch(`${HUB}/api/events/${type}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${SERVICE}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (r.status !== 202) throw new Error(`${type}: ${r.status} ${await r.text()}`);
}

afterAll(cleanup);

describe.skipIf(!NURSE || !SERVICE)("console against a live hub", () => {
  it("signs in, connects, shows the bed board and follows live events", async () => {
    const bed = `B-${run}`;
    const patient = `P-${run}`;
    await publish("bed_status_changed", {
      hospital_id: H,
      bed_info: { bed_id: bed, status: "available", unit: "LIVE" },
    });
    window.history.replaceState(null, "", `/console/beds/${H}`);
    render(<App />);
    fireEvent.change(screen.getByTestId("token-input"), { target: { value: NURSE } });
    fireEvent.click(screen.getByTestId("sign-in-button"));
    await waitFor(() => expect(screen.getByTestId("connection-state").dataset.state).toBe("connected"), {
      timeout: 10_000,
    });
    const tile = await screen.findByTestId(`bed-${H}-${bed}`, {}, { timeout: 10_000 });
    expect(tile.dataset.status).toBe("available");

    await act(() =>
      publish("bed_status_changed", {
        hospital_id: H,
        bed_info: { bed_id: bed, status: "occupied", unit: "LIVE", patient_id: patient },
      }),
    );
    await waitFor(() => expect(screen.getByTestId(`bed-${H}-${bed}`).dataset.status).toBe("occupied"));

    // the occupant's room is joined, so their alerts reach the panel
    await new Promise((r) => setTimeout(r, 500));
    await act(() =>
      publish("patient_alert", {
        patient_id: patient,
        hospital_id: H,
        alert_type: "critical",
        alert_data: { message: `live check ${run}` },
      }),
    );
    const item = await waitFor(
      () => {
        const found = screen
          .getAllByTestId("alert-item")
          .find((el) => el.textContent?.includes(`live check ${run}`));
        if (!found) throw new Error("alert not shown yet");
        return found;
      },
      { timeout: 10_000 },
    );
    expect(item.dataset.severity).toBe("critical");
    expect(item.className).toContain("attention");
    expect(Number(screen.getByTestId("alert-badge").dataset.count)).toBeGreaterThan(0);
    expect(within(item).getByTestId("ack-button")).toBeTruthy();
    const alertId = item.dataset.alertId!;

    // the patient view: history over HTTP, the NEWS2 trend and sub-scores, live scores
    const parameters = {
      respiratory_rate: { value: 24, score: 2 },
      spo2: { value: 93, score: 2 },
      on_oxygen: { value: false, score: 0 },
      systolic_bp: { value: 105, score: 1 },
      pulse: { value: 112, score: 1 },
      consciousness: { value: "A", score: 0 },
      temperature: { value: 38.4, score: 1 },
    };
    await publish("risk_updated", {
      patient_id: patient,
      hospital_id: H,
      risk_score: 0.35,
      risk_level: "high",
      explanation: { method: "NEWS2 (RCP 2017)", total: 7, band: "high", parameters },
    });
    fireEvent.click(within(item).getByTestId("alert-patient"));
    await screen.findByTestId(`patient-${patient}`);
    await waitFor(() => expect(screen.getByTestId("risk-chart").dataset.points).toBe("1"));
    expect(screen.getByTestId("subscore-respiratory_rate").dataset.score).toBe("2");
    await act(() =>
      publish("risk_updated", {
        patient_id: patient,
        hospital_id: H,
        risk_score: 0.15,
        risk_level: "low-medium",
        explanation: { total: 3, band: "low-medium", parameters },
      }),
    );
    await waitFor(() => expect(screen.getByTestId("risk-chart").dataset.points).toBe("2"));
    const history = () => screen.getAllByTestId("patient-alert").find((el) => el.dataset.alertId === alertId);
    expect(history()!.dataset.acknowledged).toBe("false");

    // acknowledge: the hub journals and broadcasts alert_acknowledged, every screen clears it
    await act(async () => {
      fireEvent.click(within(item).getByTestId("ack-button"));
    });
    await waitFor(
      () =>
        expect(
          screen.queryAllByTestId("alert-item").some((el) => el.dataset.alertId === alertId),
        ).toBe(false),
      { timeout: 10_000 },
    );
    await waitFor(() => expect(history()!.dataset.acknowledged).toBe("true"));

    // the triage queue: the initial list from GET /api/triage, then triage_updated
    const triage = `T-${run}`;
    await publish("triage_updated", {
      triage_id: triage,
      status: "pending",
      patient_id: `PT-${run}`,
      hospital_id: H,
      priority: 2,
    });
    fireEvent.click(screen.getByTestId("nav-triage"));
    const row = await screen.findByTestId(`triage-case-${triage}`, {}, { timeout: 10_000 });
    expect(row.dataset.status).toBe("pending");
    await act(() =>
      publish("triage_updated", {
        triage_id: triage,
        status: "triaged",
        patient_id: `PT-${run}`,
        hospital_id: H,
        priority: 2,
      }),
    );
    await waitFor(() => expect(screen.getByTestId(`triage-case-${triage}`).dataset.status).toBe("triaged"));
  });
});

describe.skipIf(!ADMIN)("operator page against a live hub", () => {
  it("shows inputs, rates and connected clients to an admin", async () => {
    cleanup();
    sessionStorage.clear();
    window.history.replaceState(null, "", "/console/operator");
    render(<App />);
    fireEvent.change(screen.getByTestId("token-input"), { target: { value: ADMIN } });
    fireEvent.click(screen.getByTestId("sign-in-button"));
    await screen.findByTestId("ops-inputs", {}, { timeout: 10_000 });
    await waitFor(() => expect(Number(screen.getByTestId("ops-clients").textContent)).toBeGreaterThan(0), {
      timeout: 10_000,
    });
    expect(screen.getAllByTestId(/^input-/).length).toBeGreaterThan(0);
    expect(screen.queryByTestId("inbound-errors") ?? screen.getByTestId("inbound-errors-empty")).toBeTruthy();
    fireEvent.click(screen.getByTestId("sign-out"));
    expect(screen.getByTestId("sign-in")).toBeTruthy();
    expect(sessionStorage.getItem("clinical-hub-console:token")).toBeNull();
  });
});

describe.skipIf(!NURSE || !SERVICE || process.env.ESCALATION !== "1")("escalation", () => {
  it("marks an unacknowledged critical alert escalated (step N)", async () => {
    cleanup();
    sessionStorage.clear();
    window.history.replaceState(null, "", `/console/beds/${H}`);
    render(<App />);
    fireEvent.change(screen.getByTestId("token-input"), { target: { value: NURSE } });
    fireEvent.click(screen.getByTestId("sign-in-button"));
    await waitFor(() => expect(screen.getByTestId("connection-state").dataset.state).toBe("connected"));
    // a patient the console does not watch: the escalation reaches it through hospital_H1
    await act(() =>
      publish("patient_alert", {
        patient_id: `PE-${run}`,
        hospital_id: H,
        alert_type: "critical",
        alert_data: { message: `escalate me ${run}` },
      }),
    );
    const chip = await screen.findByTestId("alert-escalated", {}, { timeout: 15_000 });
    expect(chip.textContent).toBe("escalated (step 1)");
    const item = chip.closest("[data-testid=alert-item]") as HTMLElement;
    expect(item.textContent).toContain(`escalate me ${run}`);
    expect(item.className).toContain("attention");
    await act(async () => {
      fireEvent.click(within(item).getByTestId("ack-button"));
    });
    await waitFor(() => expect(screen.queryByTestId("alert-escalated")).toBeNull(), { timeout: 10_000 });
  });
});
