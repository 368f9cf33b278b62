import { createHubClient, localStorageStore, type HubClient } from "@clinical-hub/client";
import { AlertProvider, HubProvider } from "@clinical-hub/client/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { AlertsPanel } from "./components/AlertsPanel";
import { Header } from "./components/Header";
import { SignIn } from "./components/SignIn";
import { HospitalDataProvider } from "./data";
import { createApi } from "./lib/api";
import {
  clearSession,
  decodeClaims,
  HOSPITAL_KEY,
  isExpired,
  loadToken,
  saveToken,
  SEQ_PREFIX,
  storage,
} from "./lib/session";
import { OpenAlerts } from "./openAlerts";
import { AlertPersistence } from "./persistence";
import { BedBoardPage } from "./pages/BedBoardPage";
import { OperatorPage } from "./pages/OperatorPage";
import { PatientPage } from "./pages/PatientPage";
import { TriagePage } from "./pages/TriagePage";
import { RouterProvider, useRouter } from "./router";
import { SessionProvider, useSession, type Session } from "./session";

/** Alerts kept on screen at most (unacknowledged ones stay until acknowledged). */
const MAX_ALERTS = 1000;

export function App() {
  const [token, setToken] = useState<string | null>(() => loadToken());
  const [notice, setNotice] = useState<string | null>(null);
  const signIn = useCallback((value: string) => {
    clearSession(); // nothing of an earlier session carries over
    saveToken(value);
    setNotice(null);
    setToken(value.trim());
  }, []);
  const signOut = useCallback((reason?: string) => {
    clearSession();
    setNotice(reason ?? null);
    setToken(null);
  }, []);
  const claims = token ? decodeClaims(token) : null;
  if (!token || !claims || isExpired(claims)) {
    return <SignIn onSignIn={signIn} notice={token && claims ? "Your token has expired." : notice} />;
  }
  // a new token is a new session: a fresh client, fresh state
  return <Console key={token} token={token} onSignOut={signOut} />;
}

function Console({ token, onSignOut }: { token: string; onSignOut: (reason?: string) => void }) {
  const claims = useMemo(() => decodeClaims(token)!, [token]);
  const client: HubClient = useMemo(
    () =>
      createHubClient({
        url: window.location.origin,
        token: () => token,
        // tab-scoped like the token: room names carry patient ids, so nothing outlives the tab
        store: localStorageStore(SEQ_PREFIX, storage() ?? undefined),
      }),
    [token],
  );
  useEffect(() => {
    const offError = client.onError((error) => {
      if (error.kind === "auth") onSignOut(`The hub refused your token: ${error.reason}.`);
    });
    client.connect().catch(() => {
      /* reported through onError */
    });
    return () => {
      offError();
      client.disconnect();
    };
  }, [client, onSignOut]);
  // sign out when the token expires, rather than show a console that no longer updates
  useEffect(() => {
    if (claims.exp === null) return;
    const ms = claims.exp * 1000 - Date.now();
    const timer = setTimeout(() => onSignOut("Your token has expired."), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    return () => clearTimeout(timer);
  }, [claims.exp, onSignOut]);

  const [extraHospitals, setExtraHospitals] = useState<string[]>([]);
  const [hospital, setHospitalState] = useState<string | null>(
    () => storage()?.getItem(HOSPITAL_KEY) ?? claims.hospitals[0] ?? null,
  );
  const setHospital = useCallback(
    (h: string) => {
      storage()?.setItem(HOSPITAL_KEY, h);
      setHospitalState(h);
      if (!claims.hospitals.includes(h)) {
        setExtraHospitals((list) => (list.includes(h) ? list : [...list, h]));
      }
    },
    [claims.hospitals],
  );
  const hospitals = useMemo(() => {
    const list = [...claims.hospitals, ...extraHospitals];
    if (hospital && !list.includes(hospital)) list.push(hospital);
    return list;
  }, [claims.hospitals, extraHospitals, hospital]);

  const session: Session = useMemo(
    () => ({
      token,
      claims,
      api: createApi(token),
      hospitals,
      hospital,
      setHospital,
      signOut: onSignOut,
    }),
    [token, claims, hospitals, hospital, setHospital, onSignOut],
  );

  return (
    <SessionProvider value={session}>
      <HubProvider client={client}>
        <AlertProvider maxAlerts={MAX_ALERTS}>
          <AlertPersistence />
          <HospitalDataProvider hospitals={hospitals}>
            <RouterProvider>
              <div className="layout">
                <Header />
                <div className="body">
                  <main className="main" data-testid="main">
                    <OpenAlerts hospitals={hospitals} />
                    <Page />
                  </main>
                  <AlertsPanel />
                </div>
              </div>
            </RouterProvider>
          </HospitalDataProvider>
        </AlertProvider>
      </HubProvider>
    </SessionProvider>
  );
}

function Page() {
  const { route } = useRouter();
  const { hospital } = useSession();
  switch (route.name) {
    case "beds":
      return <BedBoardPage hospital={route.hospital ?? hospital} />;
    case "triage":
      return <TriagePage hospital={route.hospital ?? hospital} />;
    case "patient":
      return <PatientPage patientId={route.patientId} />;
    case "operator":
      return <OperatorPage />;
    case "notfound":
      return (
        <section className="page" data-testid="not-found">
          <h2>Not found</h2>
          <p>No screen at {route.path}.</p>
        </section>
      );
  }
}
