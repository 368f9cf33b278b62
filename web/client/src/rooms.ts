// Room names and event routing. The routing mirrors docs/events.md ("Delivered to"): the hub
// sends an event once per connection even when it is in several joined rooms, so the client
// must work out itself which of its rooms an event advanced.

export const TRIAGE_QUEUE = "triage_queue";

export const patientRoom = (patientId: string): string => `patient_${patientId}`;
export const hospitalRoom = (hospitalId: string): string => `hospital_${hospitalId}`;
export const triageRoom = (triageId: string): string => `triage_${triageId}`;


function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** The rooms the hub delivers `event` to. Unknown types yield [] (delivered, not tracked). */
export function eventRooms(payload: { type: string }): string[] {
  const event = payload as { type: string } & Record<string, unknown>;
  const rooms: string[] = [];
  const add = (prefix: string, id: unknown): void => {
    const s = str(id);
    if (s !== undefined) rooms.push(prefix + s);
  };
  switch (event.type) {
    case "patient_alert":
    case "risk_updated":
      add("patient_", event["patient_id"]);
      break;
    case "hospital_alert":
    case "staff_availability_changed":
      add("hospital_", event["hospital_id"]);
      break;
    case "bed_status_changed": {
      add("hospital_", event["hospital_id"]);
      const bed = event["bed_info"];
      if (typeof bed === "object" && bed !== null) {
        add("patient_", (bed as Record<string, unknown>)["patient_id"]);
      }
      break;
    }
    case "triage_updated":
      add("triage_", event["triage_id"]);
      add("patient_", event["patient_id"]);
      rooms.push(TRIAGE_QUEUE);
      break;
    case "alert_acknowledged":
    case "alert_escalated":
      add("patient_", event["patient_id"]);
      add("hospital_", event["hospital_id"]);
      break;
  }
  return rooms;
}
