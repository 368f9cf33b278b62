/** The signed-in token: kept in sessionStorage (gone when the tab closes), never in localStorage. */

export const TOKEN_KEY = "clinical-hub-console:token";
/** Everything the console keeps for the tab starts with this; sign-out removes it all. */
export const KEY_PREFIX = "clinical-hub-console:";
/** Resume positions (last seq per room), so a reload replays what it missed. */
export const SEQ_PREFIX = `${KEY_PREFIX}seq:`;
/** Unacknowledged alerts, so a reload does not lose them. */
export const ALERTS_KEY = `${KEY_PREFIX}alerts`;
export const HOSPITAL_KEY = `${KEY_PREFIX}hospital`;

export interface Claims {
  sub: string;
  role: string;
  hospitals: string[];
  patients: string[];
  /** Expiry, seconds since the epoch. */
  exp: number | null;
}

/** Roles the hub lets into triage_queue by default (auth.clinical_roles). */
export const CLINICAL_ROLES = ["doctor", "nurse", "clinician", "triage"];

export function storage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled by the browser
  }
}

export function loadToken(store: Storage | null = storage()): string | null {
  const token = store?.getItem(TOKEN_KEY) ?? null;
  return token && decodeClaims(token) ? token : null;
}

export function saveToken(token: string, store: Storage | null = storage()): void {
  store?.setItem(TOKEN_KEY, token.trim());
}

export function clearToken(store: Storage | null = storage()): void {
  store?.removeItem(TOKEN_KEY);
}

/** Sign-out: the token, resume positions, kept alerts and choices of this tab. */
export function clearSession(store: Storage | null = storage()): void {
  if (!store) return;
  const keys: string[] = [];
  for (let i = 0; i < store.length; i++) {
    const key = store.key(i);
    if (key?.startsWith(KEY_PREFIX)) keys.push(key);
  }
  for (const key of keys) store.removeItem(key);
}

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/**
 * The token's claims, for display and navigation only: the hub verifies the signature and
 * decides every access. Null when the text is not a JWT.
 */
export function decodeClaims(token: string): Claims | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  let payload: unknown;
  try {
    payload = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    return null;
  }
  if (typeof payload !== "object" || payload === null) return null;
  const p = payload as Record<string, unknown>;
  return {
    sub: typeof p.sub === "string" ? p.sub : "",
    role: typeof p.role === "string" ? p.role : "",
    hospitals: strings(p.hospitals),
    patients: strings(p.patients),
    exp: typeof p.exp === "number" ? p.exp : null,
  };
}

export function isExpired(claims: Claims, nowMs: number = Date.now()): boolean {
  return claims.exp !== null && claims.exp * 1000 <= nowMs;
}

export function isAdmin(claims: Claims | null): boolean {
  return claims?.role === "admin";
}

export function isClinical(claims: Claims | null): boolean {
  return claims !== null && (CLINICAL_ROLES.includes(claims.role) || claims.role === "admin");
}
