import { useEffect } from "react";
import { StaffPanel } from "../components/StaffPanel";
import { NoHospital } from "../components/NoHospital";
import { useHospital } from "../data";
import { useNow } from "../hooks";
import type { Bed } from "../lib/api";
import {
  bedStatusClass,
  formatPercent,
  groupByUnit,
  occupancy,
  type CapacityState,
} from "../lib/beds";
import { formatAgo, parseTime } from "../lib/time";
import { Link } from "../router";
import { useSession } from "../session";

const LEGEND = ["available", "occupied", "cleaning", "blocked", "closed", "other"] as const;

export function BedBoardPage({ hospital }: { hospital: string | null }) {
  const session = useSession();
  useEffect(() => {
    if (hospital && hospital !== session.hospital) session.setHospital(hospital);
  }, [hospital, session]);
  if (!hospital) return <NoHospital />;
  return <BedBoard hospital={hospital} />;
}

function CapacityChip({ state, testId }: { state: CapacityState | undefined; testId: string }) {
  const level = state?.level ?? "none";
  return (
    <span
      className={`capacity-chip capacity-${level}`}
      data-testid={testId}
      data-level={level}
      title={state?.message || "No capacity alert"}
    >
      {level === "none" ? "capacity ok" : `capacity ${level}`}
    </span>
  );
}

function BedBoard({ hospital }: { hospital: string }) {
  const data = useHospital(hospital);
  const now = useNow(30_000);
  const beds = data.beds ?? [];
  const units = groupByUnit(beds);
  const total = occupancy(beds);
  return (
    <div className="page-with-side">
      <section className="page bed-board" data-testid={`bed-board-${hospital}`}>
        <div className="page-head">
          <h2>Beds · {hospital}</h2>
          <span className="occupancy" data-testid={`occupancy-${hospital}`}>
            {total.occupied}/{total.countable} occupied ({formatPercent(total.fraction)})
          </span>
          <CapacityChip state={data.capacity.hospital} testId={`capacity-${hospital}`} />
        </div>
        <ul className="legend" aria-label="Bed status colours">
          {LEGEND.map((s) => (
            <li key={s} className={`bed-status-${s}`}>
              {s}
            </li>
          ))}
        </ul>
        {data.errors.beds && (
          <p className="error" data-testid="load-error">
            Beds: {data.errors.beds}
          </p>
        )}
        {data.beds === null && !data.errors.beds && <p className="muted">Loading…</p>}
        {data.beds !== null && beds.length === 0 && (
          <p className="muted" data-testid="beds-empty">
            The hub has heard of no bed in {hospital} yet.
          </p>
        )}
        {units.map((group) => (
          <section
            key={group.unit}
            className="unit"
            data-testid={`unit-${hospital}-${group.unit}`}
            aria-label={`Unit ${group.unit}`}
          >
            <div className="unit-head">
              <h3>{group.unit}</h3>
              <span className="occupancy" data-testid={`occupancy-${hospital}-${group.unit}`}>
                {group.occupancy.occupied}/{group.occupancy.countable} (
                {formatPercent(group.occupancy.fraction)})
              </span>
              {data.capacity[group.unit] && (
                <CapacityChip
                  state={data.capacity[group.unit]}
                  testId={`capacity-${hospital}-${group.unit}`}
                />
              )}
            </div>
            <ul className="beds">
              {group.beds.map((bed) => (
                <BedTile key={bed.bed_id} hospital={hospital} bed={bed} now={now} />
              ))}
            </ul>
          </section>
        ))}
      </section>
      <StaffPanel hospital={hospital} staff={data.staff} error={data.errors.staff} />
    </div>
  );
}

function BedTile({ hospital, bed, now }: { hospital: string; bed: Bed; now: number }) {
  const updated = parseTime(bed.updated_at);
  return (
    <li
      className={`bed bed-status-${bedStatusClass(bed.status)}`}
      data-testid={`bed-${hospital}-${bed.bed_id}`}
      data-status={bed.status}
      data-patient={bed.patient_id ?? ""}
      title={`${bed.bed_id}: ${bed.status}${bed.room ? `, room ${bed.room}` : ""}`}
    >
      <span className="bed-id" title={bed.bed_id} data-testid={`bed-id-${hospital}-${bed.bed_id}`}>
        {bed.bed_id}
      </span>
      <span className="bed-status">{bed.status}</span>
      {bed.patient_id ? (
        <Link
          to={{ name: "patient", patientId: bed.patient_id }}
          className="bed-patient"
          testId={`bed-patient-${hospital}-${bed.bed_id}`}
          title={bed.patient_id}
        >
          {bed.patient_id}
        </Link>
      ) : (
        <span className="bed-patient empty">-</span>
      )}
      {updated !== null && <span className="bed-updated">{formatAgo(now - updated)}</span>}
    </li>
  );
}
