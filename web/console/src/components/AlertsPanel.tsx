import { useMemo, useState } from "react";
import { useAlertViews } from "../alerts";
import { useNow } from "../hooks";
import {
  alertHospitals,
  filterAlerts,
  isAcknowledgeable,
  severityLabel,
  SEVERITIES,
  type AlertFilter,
  type AlertView,
} from "../lib/alerts";
import { formatAgo, formatClock } from "../lib/time";
import { Link } from "../router";

export function AlertsPanel() {
  const { views, unread, acknowledge, markRead, markAllRead } = useAlertViews();
  const [filter, setFilter] = useState<AlertFilter>({ hospital: "", patient: "", type: "" });
  const shown = useMemo(() => filterAlerts(views, filter), [views, filter]);
  const hospitals = useMemo(() => alertHospitals(views), [views]);
  const now = useNow(30_000);
  return (
    <aside className="alerts-panel" id="alerts" data-testid="alerts-panel" aria-label="Live alerts">
      <div className="panel-head">
        <h2>
          Alerts <span className="count" data-testid="alert-count">{views.length}</span>
        </h2>
        <button
          type="button"
          onClick={markAllRead}
          disabled={unread === 0}
          data-testid="mark-all-read"
        >
          Mark all read
        </button>
      </div>
      <div className="filters" role="group" aria-label="Filter alerts">
        <select
          aria-label="Hospital"
          data-testid="filter-hospital"
          value={filter.hospital}
          onChange={(e) => setFilter({ ...filter, hospital: e.target.value })}
        >
          <option value="">All hospitals</option>
          {hospitals.map((h) => (
            <option key={h} value={h}>
              {h}
            </option>
          ))}
        </select>
        <input
          aria-label="Patient"
          data-testid="filter-patient"
          placeholder="Patient"
          value={filter.patient}
          onChange={(e) => setFilter({ ...filter, patient: e.target.value })}
          size={10}
        />
        <select
          aria-label="Type"
          data-testid="filter-type"
          value={filter.type}
          onChange={(e) => setFilter({ ...filter, type: e.target.value as AlertFilter["type"] })}
        >
          <option value="">All types</option>
          {SEVERITIES.map((s) => (
            <option key={s} value={s}>
              {severityLabel(s)}
            </option>
          ))}
          <option value="escalated">Escalated</option>
        </select>
      </div>
      {shown.length === 0 ? (
        <p className="empty" data-testid="alerts-empty">
          {views.length ? "No alerts match the filters." : "No unacknowledged alerts."}
        </p>
      ) : (
        <ol className="alert-list" data-testid="alert-list">
          {shown.map((view) => (
            <AlertItem
              key={view.key}
              view={view}
              now={now}
              onAck={acknowledge}
              onRead={markRead}
            />
          ))}
        </ol>
      )}
    </aside>
  );
}

const ACK_ERRORS: Record<string, string> = {
  bad_request: "The hub could not read this acknowledgement.",
  not_found: "The hub does not know this alert.",
  forbidden: "You may not acknowledge this alert.",
  disconnected: "Not connected: try again when the hub is back.",
  timeout: "The hub did not answer: try again.",
};

function escalatedTo(view: AlertView): string | null {
  // an alert_escalated event names it; an open alert loaded over HTTP carries its escalation
  const escalation = view.data.escalation;
  const to =
    view.data.escalate_to ??
    (typeof escalation === "object" && escalation !== null
      ? (escalation as { escalate_to?: unknown }).escalate_to
      : undefined);
  return typeof to === "string" && to ? to.replace(/_/g, " ") : null;
}

export function AlertItem({
  view,
  now,
  onAck,
  onRead,
}: {
  view: AlertView;
  now: number;
  onAck: (view: AlertView) => Promise<{ ok: true } | { ok: false; error: string }>;
  onRead: (view: AlertView) => void;
}) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ack = async () => {
    setPending(true);
    setError(null);
    try {
      const result = await onAck(view);
      if (!result.ok) setError(ACK_ERRORS[result.error] ?? `Not acknowledged: ${result.error}`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setPending(false);
    }
  };
  const classes = [
    "alert-item",
    `severity-${view.severity}`,
    view.unread ? "unread" : "",
    view.attention ? "attention" : "",
    view.escalationStep !== null ? "escalated" : "",
    view.retracted ? "retracted" : "",
  ]
    .filter(Boolean)
    .join(" ");
  return (
    <li
      className={classes}
      data-testid="alert-item"
      data-alert-id={view.key}
      data-severity={view.severity}
      data-unread={view.unread}
      data-escalation-step={view.escalationStep ?? undefined}
      onClick={() => view.unread && onRead(view)}
    >
      <div className="alert-top">
        <span className={`severity-chip severity-${view.severity}`} data-testid="alert-severity">
          {severityLabel(view.severity)}
        </span>
        {view.escalationStep !== null && (
          <span
            className="escalated-chip"
            data-testid="alert-escalated"
            title={escalatedTo(view) ? `escalated to ${escalatedTo(view)}` : undefined}
          >
            escalated (step {view.escalationStep})
          </span>
        )}
        {view.retracted && (
          <span className="retracted-chip" data-testid="alert-retracted">
            withdrawn
          </span>
        )}
        <time
          className="alert-time"
          dateTime={new Date(view.time).toISOString()}
          title={new Date(view.time).toLocaleString()}
        >
          {formatClock(new Date(view.raisedAt).toISOString(), now)} · {formatAgo(now - view.time)}
        </time>
      </div>
      <div className="alert-message" data-testid="alert-message">
        {view.message || view.title}
      </div>
      <div className="alert-meta">
        {view.patientId && (
          <Link to={{ name: "patient", patientId: view.patientId }} testId="alert-patient">
            Patient {view.patientId}
          </Link>
        )}
        {view.hospitalId && <span className="alert-hospital">{view.hospitalId}</span>}
      </div>
      <div className="alert-actions">
        {isAcknowledgeable(view) ? (
          <button
            type="button"
            className="ack-button"
            data-testid="ack-button"
            disabled={pending}
            onClick={(e) => {
              e.stopPropagation();
              void ack();
            }}
          >
            {pending ? "Acknowledging…" : "Acknowledge"}
          </button>
        ) : (
          <button
            type="button"
            className="ack-button"
            data-testid="dismiss-button"
            title="Hospital-wide alerts are cleared on this screen only"
            onClick={(e) => {
              e.stopPropagation();
              void ack();
            }}
          >
            Dismiss
          </button>
        )}
        {error && (
          <span className="error" role="alert" data-testid="ack-error">
            {error}
          </span>
        )}
      </div>
    </li>
  );
}
