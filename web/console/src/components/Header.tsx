import type { ConnectionState, HubClient } from "@clinical-hub/client";
import { useSocketIO } from "@clinical-hub/client/react";
import { useEffect, useState, type FormEvent } from "react";
import { useAlertViews } from "../alerts";
import { useNow } from "../hooks";
import { isAdmin, isClinical } from "../lib/session";
import { Link, useRouter } from "../router";
import { useSession } from "../session";

const STATE_LABEL: Record<ConnectionState, string> = {
  connected: "connected",
  connecting: "connecting…",
  reconnecting: "reconnecting…",
  disconnected: "disconnected",
};

export interface ResumeSummary {
  missed: number;
  rooms: number;
  truncated: string[];
  at: number;
}

/** Events replayed after the latest (re)connect, summed over the rooms that resumed. */
export function useResumeSummary(client: HubClient): ResumeSummary | null {
  const [summary, setSummary] = useState<ResumeSummary | null>(null);
  useEffect(() => {
    let current: ResumeSummary | null = null;
    const offState = client.onStateChange((state) => {
      if (state === "reconnecting" || state === "connecting") current = null;
    });
    const offResumed = client.onResumed(({ room, missed, truncated }) => {
      const base: ResumeSummary = current ?? { missed: 0, rooms: 0, truncated: [], at: 0 };
      current = {
        missed: base.missed + missed,
        rooms: base.rooms + 1,
        truncated: truncated ? [...base.truncated, room] : base.truncated,
        at: Date.now(),
      };
      setSummary(current);
    });
    return () => {
      offState();
      offResumed();
    };
  }, [client]);
  return summary;
}

/** How long "resumed N missed events" stays in the header. */
const RESUME_NOTICE_MS = 60_000;

export function ConnectionIndicator() {
  const { client, state } = useSocketIO();
  const summary = useResumeSummary(client);
  const now = useNow(5000);
  const showResume = summary !== null && state === "connected" && now - summary.at < RESUME_NOTICE_MS;
  return (
    <div className="connection">
      <span
        className={`connection-state state-${state}`}
        data-testid="connection-state"
        data-state={state}
        role="status"
        aria-live="polite"
      >
        <span className="dot" aria-hidden="true" />
        {STATE_LABEL[state]}
      </span>
      {showResume && (
        <span className="resume-notice" data-testid="resume-notice" data-missed={summary.missed}>
          resumed {summary.missed} missed event{summary.missed === 1 ? "" : "s"}
        </span>
      )}
      {summary && summary.truncated.length > 0 && (
        <span className="resume-truncated" data-testid="resume-truncated" role="alert">
          Some events of {summary.truncated.join(", ")} were older than the hub keeps: reload the
          page to be sure nothing is missing.
        </span>
      )}
    </div>
  );
}

function HospitalPicker() {
  const { claims, hospitals, hospital, setHospital } = useSession();
  const { route, navigate } = useRouter();
  const [typed, setTyped] = useState("");
  const choose = (h: string) => {
    setHospital(h);
    if (route.name === "beds" || route.name === "triage") navigate({ name: route.name, hospital: h });
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (typed.trim()) choose(typed.trim());
    setTyped("");
  };
  return (
    <div className="hospital-picker">
      {hospitals.length > 0 && (
        <select
          aria-label="Hospital"
          data-testid="hospital-select"
          value={hospital ?? ""}
          onChange={(e) => choose(e.target.value)}
        >
          {hospital === null && <option value="">Choose a hospital</option>}
          {hospitals.map((h) => (
            <option key={h} value={h}>
              {h}
            </option>
          ))}
        </select>
      )}
      {isAdmin(claims) && (
        <form onSubmit={submit}>
          <input
            aria-label="Open hospital"
            data-testid="hospital-input"
            placeholder="Hospital id"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
            size={10}
          />
        </form>
      )}
    </div>
  );
}

/** A bell drawn inline: no emoji font needed, decorative (the badge has its own label). */
export function BellIcon() {
  return (
    <svg
      className="bell-icon"
      data-testid="bell-icon"
      aria-hidden="true"
      focusable="false"
      viewBox="0 0 24 24"
      width="16"
      height="16"
    >
      <path
        fill="currentColor"
        d="M12 2a1.5 1.5 0 0 0-1.5 1.5v.7A6.5 6.5 0 0 0 5.5 10.5v4.2L3.8 17a1 1 0 0 0 .8 1.6h14.8a1 1 0 0 0 .8-1.6l-1.7-2.3v-4.2a6.5 6.5 0 0 0-5-6.3v-.7A1.5 1.5 0 0 0 12 2Zm-2.5 17.6a2.5 2.5 0 0 0 5 0Z"
      />
    </svg>
  );
}

export function Header() {
  const { claims, hospital, signOut } = useSession();
  const { unread } = useAlertViews();
  const { route } = useRouter();
  useEffect(() => {
    document.title = unread ? `(${unread}) Clinical hub console` : "Clinical hub console";
  }, [unread]);
  const current = (name: string) => (route.name === name ? "nav-link active" : "nav-link");
  return (
    <header className="header" data-testid="header">
      <div className="brand">Clinical hub</div>
      <nav className="nav" aria-label="Screens">
        <Link to={{ name: "beds", hospital }} className={current("beds")} testId="nav-beds">
          Beds
        </Link>
        {isClinical(claims) && (
          <Link to={{ name: "triage", hospital }} className={current("triage")} testId="nav-triage">
            Triage
          </Link>
        )}
        {isAdmin(claims) && (
          <Link to={{ name: "operator" }} className={current("operator")} testId="nav-operator">
            Operator
          </Link>
        )}
      </nav>
      <HospitalPicker />
      <ConnectionIndicator />
      <a
        href="#alerts"
        className={unread ? "alert-badge unread" : "alert-badge"}
        data-testid="alert-badge"
        data-count={unread}
        aria-label={`${unread} unread alerts`}
        title="Unread alerts"
      >
        <BellIcon />
        <span className="alert-badge-count">{unread}</span>
      </a>
      <div className="user" data-testid="user">
        <span className="user-name">{claims.sub}</span>
        <span className="user-role">{claims.role}</span>
        <button type="button" onClick={() => signOut()} data-testid="sign-out">
          Sign out
        </button>
      </div>
    </header>
  );
}
