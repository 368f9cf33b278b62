// The seed's AlertContext on top of AlertStore: one alert list for the whole app.
import {
  createContext,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import {
  AlertStore,
  defaultToAlert,
  type AcknowledgeResult,
  type Alert,
  type AlertStoreOptions,
  type NewAlert,
} from "../alerts.js";
import { useHubClient } from "./context.js";

export interface AlertContextValue {
  alerts: readonly Alert[];
  unreadCount: number;
  addAlert: (alert: NewAlert) => Alert;
  removeAlert: (id: string) => void;
  markRead: (id: string) => void;
  markAllRead: () => void;
  clearAll: () => void;
  /** Acknowledge at the hub; removed here and on every other screen once acknowledged. */
  acknowledge: (id: string) => Promise<AcknowledgeResult>;
}

const AlertContext = createContext<AlertContextValue | null>(null);

export interface AlertProviderProps extends AlertStoreOptions {
  children?: ReactNode;
}

export function AlertProvider({
  children,
  types,
  maxAlerts,
  autoDismissMs,
  toAlert,
}: AlertProviderProps) {
  const client = useHubClient();
  // A new store would start with an empty list, so it is remade only when what it was built
  // from changes: the client and the options by value. toAlert goes through a ref, since
  // callers naturally pass an inline function.
  const toAlertRef = useRef(toAlert);
  toAlertRef.current = toAlert;
  const typesKey = types?.join(",");
  const store = useMemo(
    () =>
      new AlertStore(client, {
        types: typesKey === undefined ? undefined : (typesKey.split(",") as typeof types),
        maxAlerts,
        autoDismissMs,
        toAlert: (event) => (toAlertRef.current ?? defaultToAlert)(event),
      }),
    [client, typesKey, maxAlerts, autoDismissMs],
  );
  useEffect(() => {
    store.start();
    return () => store.stop();
  }, [store]);
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const value = useMemo<AlertContextValue>(
    () => ({
      alerts: snapshot.alerts,
      unreadCount: snapshot.unreadCount,
      addAlert: store.addAlert,
      removeAlert: store.removeAlert,
      markRead: store.markRead,
      markAllRead: store.markAllRead,
      clearAll: store.clearAll,
      acknowledge: store.acknowledge,
    }),
    [snapshot, store],
  );
  return <AlertContext.Provider value={value}>{children}</AlertContext.Provider>;
}

export function useAlerts(): AlertContextValue {
  const value = useContext(AlertContext);
  if (!value) throw new Error("useAlerts() needs an <AlertProvider> above it");
  return value;
}
