import { useEffect, useRef } from "react";
import type { HubEventHandler, HubEventType } from "../events.js";
import { useHubClient } from "./context.js";

/**
 * Calls `handler` for each `type` event while the component is mounted. The latest handler
 * is used without resubscribing, so it need not be memoised.
 */
export function useHubEvent<T extends HubEventType>(type: T, handler: HubEventHandler<T>): void {
  const client = useHubClient();
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => client.on(type, (event) => latest.current(event)), [client, type]);
}
