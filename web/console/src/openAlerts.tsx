/**
 * A screen opened mid-shift shows the alerts still open: for every hospital it watches, the
 * hub's open patient alerts (`GET /api/alerts?hospital=H`) are added to the alert list, on
 * sign-in, when a hospital is added, and after a reconnect whose resume was truncated (events
 * lost). They stay until acknowledged, like live ones.
 *
 * Each list is asked for once the hospital's room is joined, so an acknowledgement or an
 * escalation made after the list was taken reaches this screen live; one made while it was on
 * its way is remembered (LiveLedger) and the alert is not brought back.
 */

import { useAlerts, useHubClient } from "@clinical-hub/client/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useWhenJoined } from "./data";
import { ApiError } from "./lib/api";
import { alertsToAdd, LiveLedger } from "./lib/openAlerts";
import { useSession } from "./session";

function describe(err: unknown): string {
  if (err instanceof ApiError) return err.status ? `${err.status} ${err.code}: ${err.detail}` : err.detail;
  return err instanceof Error ? err.message : String(err);
}

const HOSPITAL_ROOM = /^hospital_(.+)$/;

export function OpenAlerts({ hospitals }: { hospitals: string[] }) {
  const { api } = useSession();
  const client = useHubClient();
  const whenJoined = useWhenJoined();
  const { alerts, addAlert } = useAlerts();
  const current = useRef(alerts);
  current.current = alerts;
  const [errors, setErrors] = useState<Record<string, string>>({});

  // what the stream says while a list is on its way
  const ledger = useMemo(() => new LiveLedger(), []);
  useEffect(() => client.onAny((event) => ledger.observe(event as unknown as { type: string } & Record<string, unknown>)), [client, ledger]);

  const inFlight = useRef(new Set<string>());
  /** Asked for again while a load was in flight (it may predate what made us ask). */
  const again = useRef(new Set<string>());
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const load = useCallback(
    async function load(hospital: string): Promise<void> {
      if (inFlight.current.has(hospital)) {
        again.current.add(hospital);
        return;
      }
      inFlight.current.add(hospital);
      try {
        await whenJoined(`hospital_${hospital}`);
        const open = await api.openAlerts(hospital);
        if (!mounted.current) return;
        for (const alert of alertsToAdd(current.current, open, ledger)) addAlert(alert);
        setErrors(({ [hospital]: _, ...rest }) => rest);
      } catch (err) {
        if (mounted.current) setErrors((e) => ({ ...e, [hospital]: describe(err) }));
      } finally {
        inFlight.current.delete(hospital);
      }
      if (again.current.delete(hospital) && mounted.current) await load(hospital);
    },
    [api, whenJoined, addAlert, ledger],
  );

  // sign-in (and a reload of the tab), and every hospital added later
  const loaded = useRef(new Set<string>());
  const key = hospitals.join("\u0000");
  const latest = useRef(hospitals);
  latest.current = hospitals;
  useEffect(() => {
    for (const hospital of latest.current) {
      if (loaded.current.has(hospital)) continue;
      loaded.current.add(hospital);
      void load(hospital);
    }
  }, [key, load]);

  // a resume that could not replay everything: the list is the quickest way to be right again
  useEffect(
    () =>
      client.onResumed(({ room, truncated }) => {
        if (!truncated) return;
        const hospital = HOSPITAL_ROOM.exec(room)?.[1];
        const which = hospital && latest.current.includes(hospital) ? [hospital] : latest.current;
        for (const h of which) void load(h);
      }),
    [client, load],
  );

  const failed = Object.entries(errors);
  if (failed.length === 0) return null;
  return (
    <div className="notice open-alerts-error" role="alert" data-testid="open-alerts-error">
      {failed.map(([hospital, error]) => (
        <p key={hospital}>
          Could not load the open alerts of {hospital} ({error}); alerts raised before you signed
          in may be missing.{" "}
          <button type="button" onClick={() => void load(hospital)}>
            Retry
          </button>
        </p>
      ))}
    </div>
  );
}
