import { useEffect } from "react";
import { NoHospital } from "../components/NoHospital";
import { StaffPanel } from "../components/StaffPanel";
import { useHospital } from "../data";
import { useNow } from "../hooks";
import type { TriageCase, TriageStatus } from "../lib/api";
import { isClinical } from "../lib/session";
import { formatClock, formatWaiting, parseTime, waitLevel } from "../lib/time";
import { countByStatus } from "../lib/triage";
import { Link } from "../router";
import { useSession } from "../session";

const COLUMNS: Array<{ status: TriageStatus; label: string }> = [
  { status: "pending", label: "Waiting for triage" },
  { status: "triaged", label: "Triaged" },
  { status: "assigned", label: "Assigned" },
];

export function TriagePage({ hospital }: { hospital: string | null }) {
  const session = useSession();
  useEffect(() => {
    if (hospital && hospital !== session.hospital) session.setHospital(hospital);
  }, [hospital, session]);
  if (!isClinical(session.claims)) {
    return (
      <section className="page" data-testid="triage-forbidden">
        <h2>Triage</h2>
        <p>The triage queue is for clinical roles.</p>
      </section>
    );
  }
  if (!hospital) return <NoHospital />;
  return <TriageQueue hospital={hospital} />;
}

function TriageQueue({ hospital }: { hospital: string }) {
  const data = useHospital(hospital);
  const now = useNow(1000);
  const cases = data.triage ?? [];
  const counts = countByStatus(cases);
  return (
    <div className="page-with-side triage-layout">
      <section className="page triage" data-testid={`triage-${hospital}`}>
        <div className="page-head">
          <h2>Triage · {hospital}</h2>
          <span className="muted" data-testid="triage-count">
            {cases.length} open
          </span>
        </div>
        {data.errors.triage && (
          <p className="error" data-testid="load-error">
            Triage: {data.errors.triage}
          </p>
        )}
        {!data.triageComplete && (
          <p className="notice" data-testid="triage-incomplete">
            Cases opened before the hub's retention window may be missing.
          </p>
        )}
        {data.triage === null && !data.errors.triage && <p className="muted">Loading…</p>}
        <div className="triage-columns">
          {COLUMNS.map(({ status, label }) => (
            <section
              key={status}
              className={`triage-column triage-${status}`}
              data-testid={`triage-column-${status}`}
              aria-label={label}
            >
              <h3>
                {label} <span className="count">{counts[status] ?? 0}</span>
              </h3>
              <div className="table-scroll">
                <table className="triage-table">
                  <thead>
                    <tr>
                      <th scope="col">Prio</th>
                      <th scope="col">Patient</th>
                      <th scope="col">Waiting</th>
                      <th scope="col">In status</th>
                    </tr>
                  </thead>
                  <tbody>
                    {cases
                      .filter((c) => c.status === status)
                      .map((c) => (
                        <TriageRow key={c.triage_id} triage={c} now={now} />
                      ))}
                  </tbody>
                </table>
              </div>
            </section>
          ))}
        </div>
      </section>
      <StaffPanel hospital={hospital} staff={data.staff} error={data.errors.staff} />
    </div>
  );
}

function detailText(details: Record<string, unknown> | undefined): string {
  if (!details) return "";
  const preferred = ["complaint", "chief_complaint", "reason", "area", "message"];
  const parts: string[] = [];
  for (const key of preferred) {
    const v = details[key];
    if (typeof v === "string" || typeof v === "number") parts.push(String(v));
  }
  return parts.join(" · ");
}

export function TriageRow({ triage, now }: { triage: TriageCase; now: number }) {
  const opened = parseTime(triage.opened_at) ?? now;
  const since = parseTime(triage.since) ?? opened;
  const waited = now - opened;
  const level = triage.status === "pending" ? waitLevel(triage.priority, waited) : "ok";
  const detail = detailText(triage.details);
  return (
    <tr
      className={`triage-row wait-${level}`}
      data-testid={`triage-case-${triage.triage_id}`}
      data-status={triage.status}
      data-priority={triage.priority ?? ""}
    >
      <td>
        <span className={`priority priority-${triage.priority ?? "none"}`}>
          {triage.priority ? `P${triage.priority}` : "-"}
        </span>
      </td>
      <td className="patient-cell">
        <Link to={{ name: "patient", patientId: triage.patient_id }}>{triage.patient_id}</Link>
        <div className="muted small" title={`triage case ${triage.triage_id}`}>
          {detail || triage.triage_id}
        </div>
      </td>
      <td
        className="waiting"
        data-testid={`triage-wait-${triage.triage_id}`}
        title={`since ${formatClock(triage.opened_at, now)}`}
      >
        {formatWaiting(waited)}
      </td>
      <td className="in-status" title={`since ${formatClock(triage.since, now)}`}>
        {formatWaiting(now - since)}
      </td>
    </tr>
  );
}
