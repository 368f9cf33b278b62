// The hub's Socket.IO protocol as the client sees it: replies to join_room, leave_room and
// ack_alert (hub/realtime/server.py), the connection_response, and the client's own errors.
import type { AlertAcknowledged } from "./events.js";

export type ConnectionState = "disconnected" | "connecting" | "connected" | "reconnecting";

/** The hub's `connection_response`, sent right after it accepts a connection. */
export interface ConnectionInfo {
  status: "connected";
  sid: string;
  user_id: string;
  role: string;
  hospitals: string[];
  /** The hub's journal position when the connection was accepted. */
  seq: number;
}

/** Errors of the hub's reply, plus the client's own: `disconnected` and `timeout`. */
export type JoinError =
  | "forbidden"
  | "invalid_room"
  | "rate_limited"
  | "too_many_rooms"
  | "bad_request"
  | "replay_too_large"
  | "unauthenticated"
  | "disconnected"
  | "timeout";

export type JoinReply =
  | { ok: true; room: string; seq: number; replayed?: number; truncated?: boolean }
  | { ok: false; room?: string; error: JoinError; detail?: string };

export type LeaveReply =
  | { ok: true; room: string }
  | { ok: false; room?: string; error: string; detail?: string };

export type AckAlertError =
  | "not_found"
  | "forbidden"
  | "bad_request"
  | "not_an_alert"
  | "rate_limited"
  | "unauthenticated"
  | "disconnected"
  | "timeout";

export type AckAlertReply =
  | { ok: true; event: AlertAcknowledged; duplicate: boolean }
  | { ok: false; error: AckAlertError; detail?: string };

export type HubErrorKind = "auth" | "join" | "token" | "connection";

/** What `onError` listeners receive and `connect()` rejects with. */
export class HubError extends Error {
  readonly kind: HubErrorKind;
  readonly reason: string;
  readonly code: number | undefined;
  readonly room: string | undefined;

  constructor(kind: HubErrorKind, reason: string, extra: { code?: number; room?: string } = {}) {
    super(`${kind}: ${reason}${extra.room ? ` (${extra.room})` : ""}`);
    this.name = "HubError";
    this.kind = kind;
    this.reason = reason;
    this.code = extra.code;
    this.room = extra.room;
  }
}

/** Join errors after which rejoining cannot succeed: the room is dropped. */
export const FATAL_JOIN_ERRORS: ReadonlySet<string> = new Set([
  "forbidden",
  "invalid_room",
  "too_many_rooms",
  "bad_request",
  "replay_too_large",
]);
