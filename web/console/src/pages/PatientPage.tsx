import { useHubEvent } from "@clinical-hub/client/react";
import { useEffect, useMemo, useState } from "react";
import { RiskChart } from "../components/RiskChart";
import { useWatchPatient } from "../data";
import { useNow } from "../hooks";
import { ApiError } from "../lib/api";
import { bandClass, mergePoints, riskPoint, type RiskEventLike, type RiskPoint } from "../lib/news2";
import { formatAgo, formatClock, parseTime } from "../lib/time";
import { useSession } from "../session";

interface PatientAlertEntry {
  id: string;
  seq: number;
  timestamp: string;
  alert_type: string;
  message: string;
  acknowledged: { by: string; at: string } | null;
}

const RECENT_ALERTS = 20;
const HISTORY_PAGES = 5;

type Ev = Record<string, unknown>;
const str = (v: unknown) => (typeof v === "string" ? v : "");

function alertEntry(e: Ev): PatientAlertEntry {
  const data = (e.alert_data ?? {}) as Record<string, unknown>;
  return {
    id: str(e.id),
    seq: typeof e.seq === "number" ? e.seq : 0,
    timestamp: str(e.timestamp),
    alert_type: str(e.alert_type),
    message: str(data.message) || str(data.code) || str(e.alert_type),
    acknowledged: null,
  };
}

export function PatientPage({ patientId }: { patientId: string }) {
  const { api } = useSession();
  useWatchPatient(patientId);
  const [points, setPoints] = useState<RiskPoint[]>([]);
  const [alerts, setAlerts] = useState<PatientAlertEntry[]>([]);
  const [acks, setAcks] = useState<Record<string, { by: string; at: string }>>({});
  const [selected, setSelected] = useState<string | null>(null);
  const [status, setStatus] = useState<{ loading: boolean; error: string | null; note: string | null }>(
    { loading: true, error: null, note: null },
  );

  useEffect(() => {
    let cancelled = false;
    setPoints([]);
    setAlerts([]);
    setAcks({});
    setSelected(null);
    setStatus({ loading: true, error: null, note: null });
    api.historyAll(`patient_${patientId}`, 0, HISTORY_PAGES).then(
      (history) => {
        if (cancelled) return;
        const risk: RiskPoint[] = [];
        const raised: PatientAlertEntry[] = [];
        const acked: Record<string, { by: string; at: string }> = {};
        for (const e of history.events) {
          if (e.type === "risk_updated") {
            const p = riskPoint(e as unknown as RiskEventLike);
            if (p) risk.push(p);
          } else if (e.type === "patient_alert") {
            raised.push(alertEntry(e));
          } else if (e.type === "alert_acknowledged") {
            acked[str(e.alert_id)] = { by: str(e.acknowledged_by), at: str(e.acknowledged_at) };
          }
        }
        setPoints((live) => mergePoints(risk, live));
        setAlerts((live) => mergeAlerts(raised, live));
        setAcks((live) => ({ ...acked, ...live }));
        const notes = [];
        if (history.truncated) notes.push("older events are past the hub's retention");
        if (history.more) notes.push(`only the first ${HISTORY_PAGES * 1000} events are shown`);
        setStatus({ loading: false, error: null, note: notes.join("; ") || null });
      },
      (err: unknown) => {
        if (cancelled) return;
        const error =
          err instanceof ApiError && err.status === 403
            ? "You may not see this patient (not in one of your hospitals)."
            : err instanceof Error
              ? err.message
              : String(err);
        setStatus({ loading: false, error, note: null });
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, patientId]);

  useHubEvent("risk_updated", (e) => {
    if (e.patient_id !== patientId) return;
    const p = riskPoint(e);
    if (p) setPoints((list) => mergePoints(list, [p]));
  });
  useHubEvent("patient_alert", (e) => {
    if (e.patient_id !== patientId) return;
    setAlerts((list) => mergeAlerts(list, [alertEntry(e as unknown as Ev)]));
  });
  useHubEvent("alert_acknowledged", (e) => {
    setAcks((map) => ({ ...map, [e.alert_id]: { by: e.acknowledged_by, at: e.acknowledged_at } }));
  });

  const latest = points[points.length - 1];
  const shown = points.find((p) => p.eventId === selected) ?? latest;
  const now = useNow(30_000);
  const recent = useMemo(() => [...alerts].reverse().slice(0, RECENT_ALERTS), [alerts]);

  return (
    <section className="page patient" data-testid={`patient-${patientId}`}>
      <div className="page-head">
        <h2>Patient {patientId}</h2>
        {latest && (
          <span className={`band-chip ${bandClass(latest.level)}`} data-testid="latest-score">
            {latest.news2 ? `NEWS2 ${latest.value}` : `risk ${latest.value.toFixed(2)}`} · {latest.level}
          </span>
        )}
      </div>
      {status.loading && <p className="muted">Loading history…</p>}
      {status.error && (
        <p className="error" data-testid="load-error">
          {status.error}
        </p>
      )}
      {status.note && <p className="notice">History: {status.note}.</p>}
      <div className="patient-grid">
        <section className="risk" aria-label="Risk trend">
          <h3>Risk trend</h3>
          {points.length === 0 && !status.loading ? (
            <p className="muted" data-testid="no-scores">
              No risk scores yet.
            </p>
          ) : (
            <RiskChart points={points} selected={shown?.eventId ?? null} onSelect={setSelected} />
          )}
          {shown && (
            <div className="subscores" data-testid="subscores">
              <p className="muted small">
                {formatClock(new Date(shown.t).toISOString(), now)}
                {shown.redScore ? " · red score (a single parameter scored 3)" : ""}
              </p>
              {shown.subScores.length > 0 ? (
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Parameter</th>
                      <th scope="col">Value</th>
                      <th scope="col">Score</th>
                    </tr>
                  </thead>
                  <tbody>
                    {shown.subScores.map((s) => (
                      <tr
                        key={s.parameter}
                        data-testid={`subscore-${s.parameter}`}
                        data-score={s.score}
                        className={`subscore-${s.score}`}
                      >
                        <th scope="row">{s.label}</th>
                        <td>{s.display}</td>
                        <td className="score">{s.score}</td>
                      </tr>
                    ))}
                  </tbody>
                  <tfoot>
                    <tr>
                      <th scope="row">Total</th>
                      <td />
                      <td className="score">{shown.value}</td>
                    </tr>
                  </tfoot>
                </table>
              ) : (
                <p className="muted">No sub-scores in this score's explanation.</p>
              )}
              {shown.summary && <p className="muted small">{shown.summary}</p>}
            </div>
          )}
        </section>
        <section className="patient-alerts" aria-label="Recent alerts">
          <h3>Recent alerts</h3>
          {recent.length === 0 ? (
            <p className="muted">No alerts.</p>
          ) : (
            <ol className="history-alerts">
              {recent.map((a) => {
                const ack = acks[a.id];
                const at = parseTime(a.timestamp);
                return (
                  <li
                    key={a.id}
                    className={`severity-${a.alert_type}`}
                    data-testid="patient-alert"
                    data-alert-id={a.id}
                    data-acknowledged={!!ack}
                  >
                    <span className={`severity-chip severity-${a.alert_type}`}>{a.alert_type}</span>{" "}
                    {a.message}
                    <span className="muted small">
                      {" "}
                      · {formatClock(a.timestamp, now)}
                      {at !== null ? ` (${formatAgo(now - at)})` : ""}
                    </span>
                    {ack && (
                      <span className="acked small">
                        {" "}
                        · acknowledged by {ack.by} at {formatClock(ack.at, now)}
                      </span>
                    )}
                  </li>
                );
              })}
            </ol>
          )}
        </section>
      </div>
    </section>
  );
}

function mergeAlerts(a: PatientAlertEntry[], b: PatientAlertEntry[]): PatientAlertEntry[] {
  const byId = new Map<string, PatientAlertEntry>();
  for (const x of [...a, ...b]) byId.set(x.id, x);
  return [...byId.values()].sort((x, y) => x.seq - y.seq);
}
