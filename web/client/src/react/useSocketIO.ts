// The seed's useSocketIO: connection state plus room helpers, re-rendering on state changes.
import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import type { HubClient } from "../client.js";
import type { ConnectionInfo, ConnectionState } from "../protocol.js";
import type { ResumeInfo } from "../resume.js";
import { useHubClient } from "./context.js";

export interface UseSocketIO {
  client: HubClient;
  state: ConnectionState;
  isConnected: boolean;
  connection: ConnectionInfo | null;
  /** The latest resume notification, e.g. to show "resumed N missed events". */
  lastResumed: ResumeInfo | null;
  joinRoom: HubClient["joinRoom"];
  leaveRoom: HubClient["leaveRoom"];
  joinPatientRoom: HubClient["joinPatientRoom"];
  leavePatientRoom: HubClient["leavePatientRoom"];
  joinHospitalRoom: HubClient["joinHospitalRoom"];
  leaveHospitalRoom: HubClient["leaveHospitalRoom"];
  joinTriageRoom: HubClient["joinTriageRoom"];
  leaveTriageRoom: HubClient["leaveTriageRoom"];
  joinTriageQueue: HubClient["joinTriageQueue"];
  leaveTriageQueue: HubClient["leaveTriageQueue"];
  ackAlert: HubClient["ackAlert"];
  /** Seed names. */
  joinPatientMonitoring: HubClient["joinPatientRoom"];
  leavePatientMonitoring: HubClient["leavePatientRoom"];
  joinHospitalUpdates: HubClient["joinHospitalRoom"];
  leaveHospitalUpdates: HubClient["leaveHospitalRoom"];
}

export function useSocketIO(): UseSocketIO {
  const client = useHubClient();
  const state = useSyncExternalStore(
    (notify) => client.onStateChange(notify),
    () => client.state,
    () => client.state,
  );
  const [lastResumed, setLastResumed] = useState<ResumeInfo | null>(null);
  useEffect(() => client.onResumed(setLastResumed), [client]);

  // Bound once per client, so effects depending on them do not re-run every render.
  const actions = useMemo(
    () => ({
      joinRoom: client.joinRoom.bind(client),
      leaveRoom: client.leaveRoom.bind(client),
      joinPatientRoom: client.joinPatientRoom.bind(client),
      leavePatientRoom: client.leavePatientRoom.bind(client),
      joinHospitalRoom: client.joinHospitalRoom.bind(client),
      leaveHospitalRoom: client.leaveHospitalRoom.bind(client),
      joinTriageRoom: client.joinTriageRoom.bind(client),
      leaveTriageRoom: client.leaveTriageRoom.bind(client),
      joinTriageQueue: client.joinTriageQueue.bind(client),
      leaveTriageQueue: client.leaveTriageQueue.bind(client),
      ackAlert: client.ackAlert.bind(client),
    }),
    [client],
  );

  return {
    client,
    state,
    isConnected: state === "connected",
    // read on render: it changes only together with `state`, which re-renders
    connection: client.connection,
    lastResumed,
    ...actions,
    joinPatientMonitoring: actions.joinPatientRoom,
    leavePatientMonitoring: actions.leavePatientRoom,
    joinHospitalUpdates: actions.joinHospitalRoom,
    leaveHospitalUpdates: actions.leaveHospitalRoom,
  };
}
