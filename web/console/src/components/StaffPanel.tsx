import type { StaffMember } from "../lib/api";
import { onDutyCounts } from "../lib/staff";

const TYPES = ["doctor", "nurse", "other"] as const;
const LABEL = { doctor: "Doctors", nurse: "Nurses", other: "Other" };

export function StaffPanel({
  hospital,
  staff,
  error,
}: {
  hospital: string;
  staff: StaffMember[] | null;
  error: string | undefined;
}) {
  const counts = onDutyCounts(staff ?? []);
  const onDuty = (staff ?? []).filter((s) => s.available);
  return (
    <section className="staff-panel" data-testid={`staff-${hospital}`} aria-label="On-duty staff">
      <h3>On duty</h3>
      {error && (
        <p className="error" data-testid="load-error">
          Staff: {error}
        </p>
      )}
      <dl className="on-duty">
        {TYPES.map((t) => (
          <div key={t}>
            <dt>{LABEL[t]}</dt>
            <dd data-testid={`on-duty-${hospital}-${t}`}>{counts[t]}</dd>
          </div>
        ))}
      </dl>
      {staff === null && !error ? (
        <p className="muted">Loading…</p>
      ) : onDuty.length === 0 ? (
        <p className="muted">Nobody reported on duty.</p>
      ) : (
        <ul className="staff-list">
          {onDuty.map((s) => (
            <li
              key={s.staff_id}
              data-testid={`staff-member-${hospital}-${s.staff_id}`}
              data-available={s.available}
              className={`staff-${s.staff_type}`}
            >
              <span className="staff-id">{s.staff_id}</span>
              <span className="staff-type">{s.staff_type}</span>
              {s.unit && <span className="staff-unit">{s.unit}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
