/** Client-side routes under the console's base path (the hub answers index.html for them). */

export type Route =
  | { name: "beds"; hospital: string | null }
  | { name: "triage"; hospital: string | null }
  | { name: "patient"; patientId: string }
  | { name: "operator" }
  | { name: "notfound"; path: string };

export const BASE = (import.meta.env?.BASE_URL as string | undefined) ?? "/console/";

function strip(pathname: string, base: string): string {
  const b = base.endsWith("/") ? base.slice(0, -1) : base;
  if (pathname === b) return "";
  if (pathname.startsWith(b + "/")) return pathname.slice(b.length + 1);
  return pathname.replace(/^\//, "");
}

export function parseRoute(pathname: string, base: string = BASE): Route {
  const parts = strip(pathname, base)
    .split("/")
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const [head, arg, ...rest] = parts;
  if (rest.length) return { name: "notfound", path: pathname };
  if (head === undefined) return { name: "beds", hospital: null };
  if (head === "beds") return { name: "beds", hospital: arg ?? null };
  if (head === "triage") return { name: "triage", hospital: arg ?? null };
  if (head === "patients" && arg) return { name: "patient", patientId: arg };
  if (head === "operator" && arg === undefined) return { name: "operator" };
  return { name: "notfound", path: pathname };
}

export function routePath(route: Route, base: string = BASE): string {
  const b = base.endsWith("/") ? base : `${base}/`;
  const e = encodeURIComponent;
  switch (route.name) {
    case "beds":
      return route.hospital ? `${b}beds/${e(route.hospital)}` : `${b}beds`;
    case "triage":
      return route.hospital ? `${b}triage/${e(route.hospital)}` : `${b}triage`;
    case "patient":
      return `${b}patients/${e(route.patientId)}`;
    case "operator":
      return `${b}operator`;
    case "notfound":
      return route.path;
  }
}
