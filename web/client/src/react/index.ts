export { HubProvider, useHubClient } from "./context.js";
export type { HubProviderProps } from "./context.js";
export { AlertProvider, useAlerts } from "./AlertProvider.js";
export type { AlertContextValue, AlertProviderProps } from "./AlertProvider.js";
export { useSocketIO } from "./useSocketIO.js";
export type { UseSocketIO } from "./useSocketIO.js";
export { useHubEvent } from "./useHubEvent.js";
