import { useCallback, useState } from "react";
import { usePolling } from "../hooks";
import type { InboundEntry, OpsStatus } from "../lib/api";
import { isAdmin } from "../lib/session";
import { formatAgo, formatClock, parseTime } from "../lib/time";
import { useSession } from "../session";

const POLL_MS = 5000;

/** What an input's last_activity is (hub/input_alerts.py): not always a message. */
export const LAST_ACTIVITY_HELP =
  "When the input last received something: a message, or a successful poll of a feed. " +
  "Until its first one, this is when the input started (the silence watchdog counts from " +
  "there), so it is not necessarily the time of a message.";

export function OperatorPage() {
  const { claims } = useSession();
  if (!isAdmin(claims)) {
    return (
      <section className="page" data-testid="operator-forbidden">
        <h2>Operator</h2>
        <p>The operator page is for the admin role.</p>
      </section>
    );
  }
  return <Operator />;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function Operator() {
  const { api } = useSession();
  const [status, setStatus] = useState<OpsStatus | null>(null);
  const [errors, setErrors] = useState<InboundEntry[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [log, setLog] = useState<Array<{ id: number; text: string; ok: boolean }>>([]);
  const [busy, setBusy] = useState<Record<number, boolean>>({});

  const refresh = useCallback(() => {
    api.opsStatus().then(
      (s) => {
        setStatus(s);
        setProblem(null);
      },
      (err: unknown) => setProblem(errorText(err)),
    );
    api.inbound("error", 100).then(
      (r) => setErrors(r.entries),
      (err: unknown) => setProblem(errorText(err)),
    );
  }, [api]);
  usePolling(refresh, POLL_MS, [refresh]);

  const reprocess = async (id: number) => {
    setBusy((b) => ({ ...b, [id]: true }));
    try {
      const entry = await api.reprocess(id);
      const ok = entry.status === "processed";
      const text = ok ? "processed" : `still ${entry.status}: ${entry.error ?? ""}`;
      setLog((l) => [{ id, text, ok }, ...l].slice(0, 20));
    } catch (err) {
      setLog((l) => [{ id, text: errorText(err), ok: false }, ...l].slice(0, 20));
    } finally {
      setBusy((b) => ({ ...b, [id]: false }));
      refresh();
    }
  };

  const now = Date.now();
  return (
    <section className="page operator" data-testid="operator">
      <div className="page-head">
        <h2>Operator</h2>
        {status && (
          <span className="muted">
            {status.node.name} · {status.node.node_id} · v{status.node.version} · up{" "}
            {Math.round(status.node.uptime_s / 60)} min
          </span>
        )}
      </div>
      {problem && (
        <p className="error" data-testid="load-error">
          {problem}
        </p>
      )}
      {status && (
        <>
          <div className="stat-cards">
            <Stat label="Connected clients" value={status.realtime.connected_clients} testId="ops-clients" />
            <Stat label="Rooms" value={status.realtime.rooms ?? "-"} testId="ops-rooms" />
            <Stat label="Journal seq" value={status.journal.last_seq} testId="ops-last-seq" />
            <Stat
              label="Events / min"
              value={status.messages.events.per_min}
              testId="ops-events-rate"
            />
            <Stat
              label="Inbound errors"
              value={`${status.inbound_errors.count}${status.inbound_errors.capped ? "+" : ""}`}
              testId="ops-inbound-errors"
            />
          </div>

          <h3>Inputs</h3>
          <table className="ops-table" data-testid="ops-inputs">
            <thead>
              <tr>
                <th scope="col">Input</th>
                <th scope="col">Kind</th>
                <th scope="col">Health</th>
                <th scope="col" title={LAST_ACTIVITY_HELP} data-testid="ops-last-activity-heading">
                  <span className="has-tip">Last activity</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {status.inputs.map((input) => {
                const last = parseTime(input.last_activity);
                return (
                  <tr
                    key={input.name}
                    data-testid={`input-${input.name}`}
                    data-healthy={input.healthy}
                    className={input.healthy ? "healthy" : "unhealthy"}
                  >
                    <td>{input.name}</td>
                    <td>{input.kind}</td>
                    <td>{input.healthy ? "healthy" : input.problem}</td>
                    <td>
                      {last === null ? "-" : `${formatClock(input.last_activity, now)} (${formatAgo(now - last)})`}
                    </td>
                  </tr>
                );
              })}
              {status.inputs.length === 0 && (
                <tr>
                  <td colSpan={4} className="muted">
                    No inputs configured.
                  </td>
                </tr>
              )}
            </tbody>
          </table>

          <h3>Messages (per minute over the last {Math.round(status.messages.window_s)} s)</h3>
          <table className="ops-table" data-testid="ops-rates">
            <thead>
              <tr>
                <th scope="col">Counter</th>
                <th scope="col">Total</th>
                <th scope="col">Per min</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(status.messages.events.by_type).map(([type, c]) => (
                <tr key={`e-${type}`}>
                  <td>events: {type}</td>
                  <td>{c.total}</td>
                  <td>{c.per_min}</td>
                </tr>
              ))}
              {Object.entries(status.messages.inputs.by_adapter_outcome).map(([key, c]) => (
                <tr key={`i-${key}`}>
                  <td>inbound: {key}</td>
                  <td>{c.total}</td>
                  <td>{c.per_min}</td>
                </tr>
              ))}
              {Object.entries(status.messages.input_errors.by_adapter_reason).map(([key, c]) => (
                <tr key={`x-${key}`} className="unhealthy">
                  <td>errors: {key}</td>
                  <td>{c.total}</td>
                  <td>{c.per_min}</td>
                </tr>
              ))}
              <tr>
                <td>deliveries to clients</td>
                <td>{status.messages.deliveries.total}</td>
                <td>{status.messages.deliveries.per_min}</td>
              </tr>
            </tbody>
          </table>
        </>
      )}

      <h3>Errors awaiting reprocessing</h3>
      {log.length > 0 && (
        <ul className="reprocess-log" data-testid="reprocess-log">
          {log.map((entry, i) => (
            <li
              key={`${entry.id}-${i}`}
              data-testid={`reprocess-result-${entry.id}`}
              className={entry.ok ? "acked" : "error"}
            >
              #{entry.id}: {entry.text}
            </li>
          ))}
        </ul>
      )}
      {errors === null ? (
        <p className="muted">Loading…</p>
      ) : errors.length === 0 ? (
        <p className="muted" data-testid="inbound-errors-empty">
          None.
        </p>
      ) : (
        <table className="ops-table" data-testid="inbound-errors">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Source</th>
              <th scope="col">Received</th>
              <th scope="col">Error</th>
              <th scope="col" />
            </tr>
          </thead>
          <tbody>
            {errors.map((entry) => (
              <tr key={entry.id} data-testid={`inbound-${entry.id}`}>
                <td>{entry.id}</td>
                <td>{entry.source}</td>
                <td>{formatClock(entry.received_at, now)}</td>
                <td className="error-text">{entry.error}</td>
                <td>
                  <button
                    type="button"
                    data-testid={`reprocess-${entry.id}`}
                    disabled={busy[entry.id]}
                    onClick={() => void reprocess(entry.id)}
                  >
                    {busy[entry.id] ? "Reprocessing…" : "Reprocess"}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Stat({ label, value, testId }: { label: string; value: string | number; testId: string }) {
  return (
    <div className="stat">
      <div className="stat-value" data-testid={testId}>
        {value}
      </div>
      <div className="stat-label">{label}</div>
    </div>
  );
}
