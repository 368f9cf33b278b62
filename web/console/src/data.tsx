/**
 * Live hospital data for every hospital the console watches (the token's hospitals and the
 * one on screen), and the Socket.IO rooms that keep it and the alerts panel current.
 */

import { useHubEvent, useSocketIO } from "@clinical-hub/client/react";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useReducer,
  useRef,
  type ReactNode,
} from "react";
import { ApiError } from "./lib/api";
import type { CapacityAlertLike } from "./lib/beds";
import {
  emptyHospital,
  hospitalsReducer,
  watchedPatients,
  type HospitalState,
  type Resource,
} from "./lib/hospital";
import { isClinical } from "./lib/session";
import { useSession } from "./session";

/** How far back (in journal positions) the console looks for the current capacity levels. */
export const CAPACITY_LOOKBACK = 5000;
/**
 * Patient rooms joined automatically (bed occupants, triage patients), below the hub's
 * realtime.max_rooms_per_client (500) with room for hospital and triage rooms.
 */
export const MAX_PATIENT_ROOMS = 400;

interface HospitalData {
  hospitals: Record<string, HospitalState>;
  reload: (hospital: string) => void;
  /** Extra patient rooms to join while a screen shows the patient. */
  watchPatient: (patientId: string | null) => void;
  /**
   * Settles once the console's first join of `room` has been answered (joined or refused):
   * from then on the room's events reach this screen live.
   */
  whenJoined: (room: string) => Promise<void>;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const DataContext = createContext<HospitalData | null>(null);

function message(err: unknown): string {
  if (err instanceof ApiError) return err.status ? `${err.status} ${err.code}: ${err.detail}` : err.detail;
  return err instanceof Error ? err.message : String(err);
}

export function HospitalDataProvider({
  hospitals,
  children,
}: {
  hospitals: string[];
  children: ReactNode;
}) {
  const { api, claims } = useSession();
  const { client, state: connection, connection: info } = useSocketIO();
  const [data, dispatch] = useReducer(hospitalsReducer, {});
  const clinical = isClinical(claims);
  const key = hospitals.join("\u0000");

  const load = useCallback(
    (hospital: string, lastSeq: number | null) => {
      const fail = (resource: Resource) => (err: unknown) =>
        dispatch({ type: "error", hospital, resource, message: message(err) });
      api.beds(hospital).then((r) => dispatch({ type: "beds", hospital, beds: r.beds }), fail("beds"));
      api
        .staff(hospital)
        .then((r) => dispatch({ type: "staff", hospital, staff: r.staff }), fail("staff"));
      if (clinical) {
        api
          .triage(hospital)
          .then(
            (r) => dispatch({ type: "triage", hospital, cases: r.cases, complete: r.complete }),
            fail("triage"),
          );
      }
      if (lastSeq !== null) {
        api
          .historyAll(`hospital_${hospital}`, Math.max(0, lastSeq - CAPACITY_LOOKBACK), 5)
          .then((r) => {
            const alerts = r.events.filter(
              (e) => e.type === "hospital_alert" && e.alert_type === "capacity",
            ) as unknown as CapacityAlertLike[];
            dispatch({ type: "capacity", hospital, alerts });
          }, fail("capacity"));
      }
    },
    [api, clinical],
  );

  // load on first sight of a hospital, and again whenever the connection is re-established:
  // after an outage the census is the quickest way to be right again
  const lastSeq = info?.seq ?? null;
  const connected = connection === "connected";
  const latest = useRef({ hospitals, lastSeq, connected });
  latest.current = { hospitals, lastSeq, connected };
  useEffect(() => {
    const now = latest.current;
    for (const hospital of now.hospitals) load(hospital, now.connected ? now.lastSeq : null);
  }, [key, load]);
  const wasConnected = useRef(connected);
  useEffect(() => {
    if (connected && !wasConnected.current) {
      for (const hospital of latest.current.hospitals) load(hospital, latest.current.lastSeq);
    }
    wasConnected.current = connected;
  }, [connected, load]);

  const reload = useCallback((hospital: string) => load(hospital, lastSeq), [load, lastSeq]);

  useHubEvent("bed_status_changed", (event) => dispatch({ type: "bed_event", event }));
  useHubEvent("staff_availability_changed", (event) => dispatch({ type: "staff_event", event }));
  useHubEvent("triage_updated", (event) => dispatch({ type: "triage_event", event }));
  useHubEvent("hospital_alert", (event) =>
    dispatch({ type: "capacity_event", hospital: event.hospital_id, event }),
  );

  // --- rooms ----------------------------------------------------------------------------------
  const [extraPatient, watchPatient] = useReducer(
    (_: string | null, next: string | null) => next,
    null,
  );

  const rooms = useMemo(() => {
    const set = new Set<string>();
    for (const hospital of hospitals) set.add(`hospital_${hospital}`);
    if (clinical) set.add("triage_queue");
    const patients = new Set<string>();
    if (extraPatient) patients.add(extraPatient);
    for (const hospital of hospitals) {
      for (const p of watchedPatients(data[hospital])) {
        if (patients.size >= MAX_PATIENT_ROOMS) break;
        patients.add(p);
      }
    }
    for (const p of patients) set.add(`patient_${p}`);
    return [...set].sort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, clinical, data, extraPatient]);

  const roomsKey = rooms.join("\n");
  const joined = useRef(new Set<string>());
  const joins = useRef(new Map<string, Deferred>());
  const joinOf = useCallback((room: string): Deferred => {
    let join = joins.current.get(room);
    if (!join) {
      join = deferred();
      joins.current.set(room, join);
    }
    return join;
  }, []);
  const whenJoined = useCallback((room: string) => joinOf(room).promise, [joinOf]);
  useEffect(() => {
    const wanted = new Set(roomsKey ? roomsKey.split("\n") : []);
    for (const room of joined.current) {
      if (!wanted.has(room)) {
        joined.current.delete(room);
        joins.current.get(room)?.resolve();
        joins.current.delete(room);
        void client.leaveRoom(room);
      }
    }
    for (const room of wanted) {
      if (!joined.current.has(room)) {
        joined.current.add(room);
        const join = joinOf(room);
        // refused or cut off: settle anyway, whoever waits should not wait forever
        void client.joinRoom(room).then(join.resolve, join.resolve);
      }
    }
  }, [client, roomsKey, joinOf]);

  // A resume position older than the hub can replay (days offline): start that room afresh.
  useEffect(
    () =>
      client.onError((error) => {
        if (error.kind === "join" && error.room && /replay_too_large/.test(error.reason)) {
          const room = error.room;
          void client.leaveRoom(room).then(() => client.joinRoom(room));
        }
      }),
    [client],
  );

  const value = useMemo(
    () => ({ hospitals: data, reload, watchPatient, whenJoined }),
    [data, reload, watchPatient, whenJoined],
  );
  return <DataContext.Provider value={value}>{children}</DataContext.Provider>;
}

function useData(): HospitalData {
  const value = useContext(DataContext);
  if (!value) throw new Error("useHospital outside HospitalDataProvider");
  return value;
}

export function useHospital(hospital: string | null): HospitalState & { reload: () => void } {
  const { hospitals, reload } = useData();
  const state = (hospital && hospitals[hospital]) || emptyHospital();
  return { ...state, reload: () => hospital && reload(hospital) };
}

/** See HospitalData.whenJoined. */
export function useWhenJoined(): (room: string) => Promise<void> {
  return useData().whenJoined;
}

/** Joins the patient's room while the calling screen is mounted. */
export function useWatchPatient(patientId: string | null): void {
  const { watchPatient } = useData();
  useEffect(() => {
    watchPatient(patientId);
    return () => watchPatient(null);
  }, [patientId, watchPatient]);
}
