/** The signed-in session: token, its claims, the HTTP API, the hospital being looked at. */

import { createContext, useContext, type ReactNode } from "react";
import type { HubApi } from "./lib/api";
import type { Claims } from "./lib/session";

export interface Session {
  token: string;
  claims: Claims;
  api: HubApi;
  /** Hospitals the user can pick: the token's, plus any an admin typed in. */
  hospitals: string[];
  /** The hospital screens default to. */
  hospital: string | null;
  setHospital: (hospital: string) => void;
  signOut: (reason?: string) => void;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ value, children }: { value: Session; children: ReactNode }) {
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession outside SessionProvider");
  return value;
}
