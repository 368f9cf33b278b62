import { describe, expect, it } from "vitest";
import { clearToken, decodeClaims, isAdmin, isClinical, isExpired, loadToken, saveToken } from "../src/lib/session";
import { parseRoute, routePath } from "../src/lib/routes";

function jwt(payload: object): string {
  const b64 = (o: object) =>
    btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${b64({ alg: "HS256", typ: "JWT" })}.${b64(payload)}.signature`;
}

describe("session", () => {
  const token = jwt({ sub: "nurse-1", role: "nurse", hospitals: ["H1", "H2"], exp: 2_000_000_000 });

  it("reads the claims the console shows (the hub checks the signature)", () => {
    expect(decodeClaims(token)).toEqual({
      sub: "nurse-1",
      role: "nurse",
      hospitals: ["H1", "H2"],
      patients: [],
      exp: 2_000_000_000,
    });
    expect(decodeClaims("not a token")).toBeNull();
    expect(decodeClaims("a.b.c")).toBeNull();
  });

  it("knows expiry, clinical and admin roles", () => {
    const claims = decodeClaims(token)!;
    expect(isExpired(claims, 1_000_000_000_000)).toBe(false);
    expect(isExpired(claims, 2_000_000_000_000)).toBe(true);
    expect(isClinical(claims)).toBe(true);
    expect(isAdmin(claims)).toBe(false);
    expect(isClinical(decodeClaims(jwt({ sub: "s", role: "service" })))).toBe(false);
    expect(isAdmin(decodeClaims(jwt({ sub: "a", role: "admin" })))).toBe(true);
  });

  it("keeps the token in sessionStorage until sign-out", () => {
    saveToken(`  ${token}\n`);
    expect(sessionStorage.getItem("clinical-hub-console:token")).toBe(token);
    expect(loadToken()).toBe(token);
    clearToken();
    expect(loadToken()).toBeNull();
    sessionStorage.setItem("clinical-hub-console:token", "garbage");
    expect(loadToken()).toBeNull();
    clearToken();
  });
});

describe("routes", () => {
  it("parses the console's paths under its base", () => {
    expect(parseRoute("/console", "/console/")).toEqual({ name: "beds", hospital: null });
    expect(parseRoute("/console/", "/console/")).toEqual({ name: "beds", hospital: null });
    expect(parseRoute("/console/beds/H1", "/console/")).toEqual({ name: "beds", hospital: "H1" });
    expect(parseRoute("/console/triage/H%201", "/console/")).toEqual({ name: "triage", hospital: "H 1" });
    expect(parseRoute("/console/patients/P-7", "/console/")).toEqual({ name: "patient", patientId: "P-7" });
    expect(parseRoute("/console/operator", "/console/")).toEqual({ name: "operator" });
    expect(parseRoute("/console/nope", "/console/").name).toBe("notfound");
    expect(parseRoute("/console/beds/H1/x", "/console/").name).toBe("notfound");
  });

  it("builds paths that parse back to the same route", () => {
    for (const route of [
      { name: "beds", hospital: "H1" },
      { name: "triage", hospital: null },
      { name: "patient", patientId: "P/1 x" },
      { name: "operator" },
    ] as const) {
      expect(parseRoute(routePath(route, "/console/"), "/console/")).toEqual(route);
    }
  });
});
