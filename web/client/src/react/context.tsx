// Which HubClient the hooks below talk to.
import { createContext, useContext, type ReactNode } from "react";
import type { HubClient } from "../client.js";
import { SocketService } from "../service.js";

const HubContext = createContext<HubClient | null>(null);

export interface HubProviderProps {
  /** Default: SocketService.getInstance(), the seed's singleton. */
  client?: HubClient;
  children?: ReactNode;
}

/**
 * Makes a client available to the hooks. It neither connects nor disconnects it: connecting
 * needs a token, which the app has only after login, so the app owns the lifecycle.
 */
export function HubProvider({ client, children }: HubProviderProps) {
  return (
    <HubContext.Provider value={client ?? SocketService.getInstance()}>{children}</HubContext.Provider>
  );
}

/** The provider's client; without a provider, the SocketService singleton (as in the seed). */
export function useHubClient(): HubClient {
  return useContext(HubContext) ?? SocketService.getInstance();
}
