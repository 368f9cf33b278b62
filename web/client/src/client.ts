// HubClient: one Socket.IO connection to the hub that keeps its rooms joined across reconnects
// and hands each event to the handlers once, in seq order per room, without gaps.
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { RecentIds } from "./dedupe.js";
import {
  CONTROL_MESSAGES,
  isHubEvent,
  type HubEvent,
  type HubEventHandler,
  type HubEventType,
} from "./events.js";
import { Listeners } from "./listeners.js";
import {
  FATAL_JOIN_ERRORS,
  HubError,
  type AckAlertReply,
  type ConnectionInfo,
  type ConnectionState,
  type JoinReply,
  type LeaveReply,
} from "./protocol.js";
import { Positions, ReplayGate, type ResumeInfo } from "./resume.js";
import { TRIAGE_QUEUE, eventRooms, hospitalRoom, patientRoom, triageRoom } from "./rooms.js";
import { memoryStore, type ResumeStore } from "./store.js";

export type TokenSource = string | (() => string | Promise<string>);

export interface HubClientOptions {
  /** Hub origin, e.g. http://127.0.0.1:5000. */
  url: string;
  /** Socket.IO path; default /socket.io. */
  path?: string;
  /** JWT, or a function called before every connect and reconnect for a fresh one. */
  token: TokenSource;
  /** Default ['websocket']: no long-polling, so no sticky sessions needed behind a balancer. */
  transports?: ("websocket" | "polling")[];
  /** Where the last seq per room is kept; default in memory. */
  store?: ResumeStore;
  /** How many event ids are remembered to drop duplicates; default 10,000. */
  dedupeSize?: number;
  /** How long joinRoom / leaveRoom / ackAlert wait for the hub; default 10 s. */
  ackTimeoutMs?: number;
  reconnectionDelayMs?: number;
  reconnectionDelayMaxMs?: number;
  onError?: (error: HubError) => void;
  onStateChange?: (state: ConnectionState, previous: ConnectionState) => void;
  onResumed?: (info: ResumeInfo) => void;
  /** Passed to io() last; `auth` is always the client's own. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export interface JoinOptions {
  /** Replay from this seq instead of the remembered position. */
  since?: number;
}

type Waiter = { resolve: () => void; reject: (error: HubError) => void };
type Refusal = { code: number; reason: string };

// Rejoins that may succeed if tried again later, on the same connection.
const RETRYABLE_JOIN_ERRORS = new Set(["rate_limited", "timeout"]);
const MAX_JOIN_ATTEMPTS = 10;
// A connection the hub closed after living this long was not a reconnect loop.
const STABLE_CONNECTION_MS = 10_000;

function isRefusal(data: unknown): data is Refusal {
  return (
    typeof data === "object" &&
    data !== null &&
    typeof (data as Refusal).code === "number" &&
    typeof (data as Refusal).reason === "string"
  );
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class HubClient {
  private options: Partial<HubClientOptions>;
  private socketRef: Socket | null = null;
  private stateValue: ConnectionState = "disconnected";
  private info: ConnectionInfo | null = null;
  // Bumped on every connect and disconnect: replies from an older connection are ignored.
  private generation = 0;
  private everConnected = false;
  private connectedAt = 0;
  private expiredRetried = false;
  private serverCloses = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  /** Rooms to keep joined; `since` is a one-off override for the next join. */
  private readonly desired = new Map<string, { since?: number }>();
  /** Rooms the hub confirmed on the current connection. */
  private readonly joined = new Set<string>();
  private readonly joinWaiters = new Map<string, ((reply: JoinReply) => void)[]>();
  private connectWaiters: Waiter[] = [];

  private positions: Positions;
  private recent: RecentIds;
  private readonly gate: ReplayGate;

  private readonly handlers = new Map<string, Listeners<[HubEvent]>>();
  private readonly anyHandlers = new Listeners<[HubEvent]>();
  private readonly stateListeners = new Listeners<[ConnectionState, ConnectionState]>();
  private readonly resumedListeners = new Listeners<[ResumeInfo]>();
  private readonly errorListeners = new Listeners<[HubError]>();
  private optionListeners: (() => void)[] = [];

  constructor(options: Partial<HubClientOptions> = {}) {
    this.options = {};
    this.positions = new Positions(memoryStore());
    this.recent = new RecentIds(10_000);
    this.gate = new ReplayGate(
      (event) => this.deliver(event),
      (room, seq) => {
        if (this.joined.has(room)) this.positions.advance(room, seq);
      },
      (info) => this.resumedListeners.emit(info),
    );
    this.configure(options);
  }

  // --- configuration and lifecycle ----------------------------------------------------------

  private configure(options: Partial<HubClientOptions>): void {
    this.options = { ...this.options, ...options };
    if (options.store) this.positions = new Positions(options.store);
    if (options.dedupeSize !== undefined && options.dedupeSize !== this.recent.capacity) {
      this.recent = new RecentIds(options.dedupeSize);
    }
    if (options.onError || options.onStateChange || options.onResumed) {
      // replace, not add: SocketService.connect(options) may be called with them each time
      for (const off of this.optionListeners) off();
      const o = this.options;
      this.optionListeners = [
        o.onError ? this.errorListeners.add(o.onError) : () => {},
        o.onStateChange ? this.stateListeners.add(o.onStateChange) : () => {},
        o.onResumed ? this.resumedListeners.add(o.onResumed) : () => {},
      ];
    }
  }

  /**
   * Opens the connection (options given here are merged first). Resolves once connected;
   * rejects with a HubError when the hub refuses the token or disconnect() is called first.
   * While the hub is unreachable it keeps trying.
   */
  connect(options?: Partial<HubClientOptions>): Promise<void> {
    if (options) this.configure(options);
    const { url, token } = this.options;
    if (!url || token === undefined) {
      return Promise.reject(new TypeError("HubClient.connect: options url and token are required"));
    }
    if (this.stateValue === "connected") return Promise.resolve();
    const connected = new Promise<void>((resolve, reject) => {
      this.connectWaiters.push({ resolve, reject });
    });
    if (!this.socketRef) this.open();
    return connected;
  }

  /** Closes the connection and stops reconnecting; rooms and positions are kept for connect(). */
  disconnect(): void {
    this.teardown();
    this.failConnectWaiters(new HubError("connection", "disconnected by the client"));
    for (const room of [...this.joinWaiters.keys()]) {
      this.settleJoinWaiters(room, { ok: false, room, error: "disconnected" });
    }
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  isConnected(): boolean {
    return this.stateValue === "connected";
  }

  /** The hub's connection_response for the current connection. */
  get connection(): ConnectionInfo | null {
    return this.info;
  }

  /** The underlying socket.io-client socket, for diagnostics. */
  get socket(): Socket | null {
    return this.socketRef;
  }

  onStateChange(listener: (state: ConnectionState, previous: ConnectionState) => void): () => void {
    return this.stateListeners.add(listener);
  }

  onResumed(listener: (info: ResumeInfo) => void): () => void {
    return this.resumedListeners.add(listener);
  }

  onError(listener: (error: HubError) => void): () => void {
    return this.errorListeners.add(listener);
  }

  private open(): void {
    const o = this.options as HubClientOptions;
    this.everConnected = false;
    this.expiredRetried = false;
    const socket = io(o.url, {
      path: o.path ?? "/socket.io",
      transports: o.transports ?? ["websocket"],
      reconnection: true,
      reconnectionDelay: o.reconnectionDelayMs ?? 1000,
      reconnectionDelayMax: o.reconnectionDelayMaxMs ?? 10_000,
      autoConnect: false,
      // each client owns its connection: a shared Manager would couple their lifecycles
      forceNew: true,
      ...o.socketOptions,
      // a function, so every (re)connect asks for the current token
      auth: (cb) => this.provideToken(cb),
    });
    socket.on("connect", () => this.handleConnect(socket));
    socket.on("connect_error", (err) => this.handleConnectError(socket, err));
    socket.on("disconnect", (reason) => this.handleDisconnect(socket, reason));
    socket.onAny((name: string, payload: unknown) => this.handleMessage(socket, name, payload));
    this.socketRef = socket;
    this.setState("connecting");
    socket.connect();
  }

  private provideToken(cb: (data: object) => void): void {
    const source = this.options.token;
    const refuse = (err: unknown): void => {
      // Connect without a token: the hub refuses it, which ends in the auth-failure path
      // (state 'disconnected', onError) instead of a connection attempt that never finishes.
      this.reportError(new HubError("token", message(err)));
      cb({});
    };
    Promise.resolve()
      .then(() => (typeof source === "function" ? source() : source))
      .then((token) => {
        if (typeof token === "string" && token !== "") cb({ token });
        else refuse(new TypeError("the token function returned no token"));
      }, refuse);
  }

  private handleConnect(socket: Socket): void {
    if (socket !== this.socketRef) return;
    this.generation += 1;
    this.everConnected = true;
    this.expiredRetried = false;
    this.connectedAt = Date.now();
    this.joined.clear();
    this.gate.reset();
    this.setState("connected");
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.resolve();
    this.rejoinAll();
  }

  private handleConnectError(socket: Socket, err: Error): void {
    if (socket !== this.socketRef) return;
    const data: unknown = (err as Error & { data?: unknown }).data;
    if (isRefusal(data) || !socket.active) {
      const reason = isRefusal(data) ? data.reason : err.message;
      if (
        reason === "token expired" &&
        typeof this.options.token === "function" &&
        !this.expiredRetried
      ) {
        // once per refusal streak: a token function that keeps returning expired tokens
        // must not loop
        this.expiredRetried = true;
        socket.connect();
        return;
      }
      this.teardown();
      const error = isRefusal(data)
        ? new HubError("auth", reason, { code: data.code })
        : new HubError("connection", reason);
      this.reportError(error);
      this.failConnectWaiters(error);
      return;
    }
    // unreachable or restarting hub: socket.io's manager retries with backoff by itself
    this.setState(this.everConnected ? "reconnecting" : "connecting");
  }

  private handleDisconnect(socket: Socket, reason: Socket.DisconnectReason): void {
    if (socket !== this.socketRef) return;
    this.generation += 1;
    this.joined.clear();
    this.gate.reset();
    this.info = null;
    this.setState("reconnecting");
    if (reason === "io server disconnect") {
      // The hub closed the connection (token expired, or it is shutting down); socket.io
      // does not reconnect after that on its own.
      this.reconnectAfterServerClose(socket);
    }
  }

  private reconnectAfterServerClose(socket: Socket): void {
    const lived = Date.now() - this.connectedAt;
    this.serverCloses = lived >= STABLE_CONNECTION_MS ? 0 : this.serverCloses + 1;
    const base = this.options.reconnectionDelayMs ?? 1000;
    const max = this.options.reconnectionDelayMaxMs ?? 10_000;
    const delay = this.serverCloses === 0 ? 0 : Math.min(base * 2 ** (this.serverCloses - 1), max);
    this.later(delay, () => {
      if (socket === this.socketRef && !socket.connected) socket.connect();
    });
  }

  private teardown(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const socket = this.socketRef;
    this.socketRef = null;
    this.generation += 1;
    this.joined.clear();
    this.gate.reset();
    this.info = null;
    if (socket) {
      socket.offAny();
      socket.removeAllListeners();
      socket.disconnect();
    }
    this.setState("disconnected");
  }

  private setState(next: ConnectionState): void {
    const previous = this.stateValue;
    if (previous === next) return;
    this.stateValue = next;
    this.stateListeners.emit(next, previous);
  }

  private reportError(error: HubError): void {
    this.errorListeners.emit(error);
  }

  private failConnectWaiters(error: HubError): void {
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    for (const w of waiters) w.reject(error);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }

  // --- events -------------------------------------------------------------------------------

  /** Typed handler for one event type; returns a function that removes it. */
  on<T extends HubEventType>(type: T, handler: HubEventHandler<T>): () => void {
    let set = this.handlers.get(type);
    if (!set) {
      set = new Listeners<[HubEvent]>();
      this.handlers.set(type, set);
    }
    return set.add(handler as (event: HubEvent) => void);
  }

  off<T extends HubEventType>(type: T, handler: HubEventHandler<T>): void {
    this.handlers.get(type)?.delete(handler as (event: HubEvent) => void);
  }

  /** Every hub event, including types this version of the client does not know. */
  onAny(handler: (event: HubEvent) => void): () => void {
    return this.anyHandlers.add(handler);
  }

  private handleMessage(socket: Socket, name: string, payload: unknown): void {
    if (socket !== this.socketRef) return;
    if (name === "connection_response") {
      this.info = payload as ConnectionInfo;
      return;
    }
    if (CONTROL_MESSAGES.has(name) || !isHubEvent(payload)) return;
    this.gate.offer(payload);
  }

  private deliver(event: HubEvent): void {
    if (this.recent.has(event.id)) return;
    const rooms = eventRooms(event).filter((room) => this.joined.has(room));
    // Every joined room of the event is already past it: a replay of something delivered,
    // or of something from before the room was joined. Survives a reload, unlike the ids.
    const passed =
      rooms.length > 0 &&
      rooms.every((room) => {
        const seq = this.positions.get(room);
        return seq !== undefined && seq >= event.seq;
      });
    this.recent.add(event.id);
    if (passed) return;
    for (const room of rooms) this.positions.advance(room, event.seq);
    this.handlers.get(event.type)?.emit(event);
    this.anyHandlers.emit(event);
  }

  // --- rooms --------------------------------------------------------------------------------

  /**
   * Joins `room` now, or at the next connect when offline, and rejoins it after every
   * reconnect until leaveRoom(room). Resolves with the hub's reply; never rejects.
   */
  joinRoom(room: string, opts: JoinOptions = {}): Promise<JoinReply> {
    if (opts.since !== undefined && !(Number.isSafeInteger(opts.since) && opts.since >= 0)) {
      return Promise.resolve({
        ok: false,
        room,
        error: "bad_request",
        detail: "since must be a non-negative integer",
      });
    }
    this.desired.set(room, opts.since === undefined ? {} : { since: opts.since });
    if (!this.isConnected()) {
      return new Promise((resolve) => {
        const waiters = this.joinWaiters.get(room) ?? [];
        waiters.push(resolve);
        this.joinWaiters.set(room, waiters);
      });
    }
    return this.join(room, this.generation);
  }

  /** Stops rejoining `room` and forgets its resume position. */
  async leaveRoom(room: string): Promise<LeaveReply> {
    this.desired.delete(room);
    this.joined.delete(room);
    this.positions.forget(room);
    this.settleJoinWaiters(room, { ok: false, room, error: "disconnected", detail: "left" });
    const socket = this.socketRef;
    if (!socket || !this.isConnected()) return { ok: true, room };
    try {
      return (await socket.timeout(this.ackTimeout).emitWithAck("leave_room", { room })) as LeaveReply;
    } catch {
      return { ok: false, room, error: "timeout" };
    }
  }

  joinPatientRoom(patientId: string): Promise<JoinReply> {
    return this.joinRoom(patientRoom(patientId));
  }
  leavePatientRoom(patientId: string): Promise<LeaveReply> {
    return this.leaveRoom(patientRoom(patientId));
  }
  joinHospitalRoom(hospitalId: string): Promise<JoinReply> {
    return this.joinRoom(hospitalRoom(hospitalId));
  }
  leaveHospitalRoom(hospitalId: string): Promise<LeaveReply> {
    return this.leaveRoom(hospitalRoom(hospitalId));
  }
  joinTriageRoom(triageId: string): Promise<JoinReply> {
    return this.joinRoom(triageRoom(triageId));
  }
  leaveTriageRoom(triageId: string): Promise<LeaveReply> {
    return this.leaveRoom(triageRoom(triageId));
  }
  joinTriageQueue(): Promise<JoinReply> {
    return this.joinRoom(TRIAGE_QUEUE);
  }
  leaveTriageQueue(): Promise<LeaveReply> {
    return this.leaveRoom(TRIAGE_QUEUE);
  }

  /** Rooms the client keeps joined (joined now, or to be joined at the next connect). */
  rooms(): string[] {
    return [...this.desired.keys()];
  }

  /** Resume position of `room`: the seq it will be rejoined with. */
  lastSeq(room: string): number | undefined {
    return this.positions.get(room);
  }

  private get ackTimeout(): number {
    return this.options.ackTimeoutMs ?? 10_000;
  }

  private rejoinAll(): void {
    const generation = this.generation;
    // All joins start synchronously, so every resuming room holds the gate (and takes its
    // `since`) before the first acknowledgement can flush it.
    for (const room of [...this.desired.keys()]) {
      void this.join(room, generation).then((reply) => this.settleJoinWaiters(room, reply));
    }
  }

  private settleJoinWaiters(room: string, reply: JoinReply): void {
    const waiters = this.joinWaiters.get(room);
    if (!waiters) return;
    this.joinWaiters.delete(room);
    for (const resolve of waiters) resolve(reply);
  }

  private async join(room: string, generation: number): Promise<JoinReply> {
    const disconnected: JoinReply = { ok: false, room, error: "disconnected" };
    const override = this.desired.get(room)?.since;
    if (override !== undefined) {
      this.positions.reset(room, override);
      this.desired.set(room, {});
    }
    // Already live in the room on this connection: a plain join is idempotent at the hub.
    const since = override ?? (this.joined.has(room) ? undefined : this.positions.get(room));
    const resuming = since !== undefined;
    if (resuming) this.gate.open();
    let reply: JoinReply = disconnected;
    for (let attempt = 1; ; attempt++) {
      const socket = this.socketRef;
      if (!socket || generation !== this.generation || !socket.connected) return disconnected;
      try {
        reply = (await socket
          .timeout(this.ackTimeout)
          .emitWithAck("join_room", since === undefined ? { room } : { room, since })) as JoinReply;
      } catch {
        reply = { ok: false, room, error: "timeout" };
      }
      // a new connection reset the gate and rejoins by itself
      if (generation !== this.generation) return disconnected;
      if (reply.ok || !RETRYABLE_JOIN_ERRORS.has(reply.error) || attempt >= MAX_JOIN_ATTEMPTS) {
        break;
      }
      if (!this.desired.has(room)) break;
      // keep holding the gate: the room's replay has not happened yet
      await this.sleep(Math.min(250 * 2 ** attempt, 5000) * (0.5 + Math.random()));
    }
    if (reply.ok && this.desired.has(room)) {
      this.joined.add(room);
      this.gate.position(room, reply.seq);
      if (resuming) {
        this.gate.close({
          room,
          missed: reply.replayed ?? 0,
          truncated: reply.truncated ?? false,
        });
      }
      return reply;
    }
    if (resuming) this.gate.close();
    if (!reply.ok) {
      if (FATAL_JOIN_ERRORS.has(reply.error)) {
        this.desired.delete(room);
        this.positions.forget(room);
      }
      this.reportError(new HubError("join", reply.error, { room }));
    }
    return reply;
  }

  // --- alerts -------------------------------------------------------------------------------

  /** Acknowledges an alert: `alertId` is the id of its patient_alert event. */
  async ackAlert(alertId: string, note?: string): Promise<AckAlertReply> {
    const socket = this.socketRef;
    if (!socket || !this.isConnected()) return { ok: false, error: "disconnected" };
    try {
      return (await socket
        .timeout(this.ackTimeout)
        .emitWithAck(
          "ack_alert",
          note === undefined ? { id: alertId } : { id: alertId, note },
        )) as AckAlertReply;
    } catch {
      return { ok: false, error: this.isConnected() ? "timeout" : "disconnected" };
    }
  }
}

export function createHubClient(options: HubClientOptions): HubClient {
  return new HubClient(options);
}
