/**
 * NEWS2 scores from `risk_updated` (plugins/news2: explanation = {method, total, band,
 * spo2_scale, parameters: {name: {value, score}}, red_score, oxygen_assumed, observations,
 * summary}), and the scaling of the small trend chart.
 */

export const PARAMETER_ORDER = [
  "respiratory_rate",
  "spo2",
  "on_oxygen",
  "systolic_bp",
  "pulse",
  "consciousness",
  "temperature",
] as const;

export const PARAMETER_LABELS: Record<string, string> = {
  respiratory_rate: "Resp. rate",
  spo2: "SpO₂",
  on_oxygen: "Air or oxygen",
  systolic_bp: "Systolic BP",
  pulse: "Pulse",
  consciousness: "Consciousness",
  temperature: "Temperature",
};

const UNITS: Record<string, string> = {
  respiratory_rate: "/min",
  spo2: "%",
  systolic_bp: "mmHg",
  pulse: "/min",
  temperature: "°C",
};

export interface SubScore {
  parameter: string;
  label: string;
  value: number | boolean | string | null;
  display: string;
  score: number;
}

export interface RiskPoint {
  /** ms since the epoch (the event's clinical time). */
  t: number;
  /** NEWS2 total when the explanation has one, else risk_score (0..1). */
  value: number;
  riskScore: number;
  level: string;
  news2: boolean;
  redScore: boolean;
  subScores: SubScore[];
  summary: string;
  eventId: string;
  seq: number;
}

export interface RiskEventLike {
  id: string;
  seq: number;
  timestamp: string;
  risk_score: number;
  risk_level: string;
  explanation?: { [k: string]: unknown };
}

function display(parameter: string, value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (parameter === "on_oxygen") return value === true ? "Oxygen" : "Air";
  return `${String(value)}${UNITS[parameter] ? ` ${UNITS[parameter]}` : ""}`;
}

export function subScores(explanation: { [k: string]: unknown } | undefined): SubScore[] {
  const parameters = explanation?.parameters;
  if (typeof parameters !== "object" || parameters === null) return [];
  const entries = Object.entries(parameters as Record<string, unknown>);
  const rank = (p: string) => {
    const i = (PARAMETER_ORDER as readonly string[]).indexOf(p);
    return i < 0 ? PARAMETER_ORDER.length : i;
  };
  return entries
    .map(([parameter, raw]) => {
      const r = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
      const value = r.value;
      return {
        parameter,
        label: PARAMETER_LABELS[parameter] ?? parameter,
        value:
          typeof value === "number" || typeof value === "boolean" || typeof value === "string"
            ? value
            : null,
        display: display(parameter, value),
        score: typeof r.score === "number" ? r.score : 0,
      };
    })
    .sort((a, b) => rank(a.parameter) - rank(b.parameter) || a.parameter.localeCompare(b.parameter));
}

export function riskPoint(event: RiskEventLike): RiskPoint | null {
  const t = Date.parse(event.timestamp);
  if (Number.isNaN(t)) return null;
  const explanation = event.explanation;
  const total = explanation?.total;
  const news2 = typeof total === "number";
  return {
    t,
    value: news2 ? total : event.risk_score,
    riskScore: event.risk_score,
    level: event.risk_level,
    news2,
    redScore: explanation?.red_score === true,
    subScores: subScores(explanation),
    summary: typeof explanation?.summary === "string" ? explanation.summary : "",
    eventId: event.id,
    seq: event.seq,
  };
}

/** Points in time order, one per event id (a replayed event is not drawn twice). */
export function mergePoints(points: readonly RiskPoint[], more: readonly RiskPoint[]): RiskPoint[] {
  const byId = new Map<string, RiskPoint>();
  for (const p of [...points, ...more]) byId.set(p.eventId, p);
  return [...byId.values()].sort((a, b) => a.t - b.t || a.seq - b.seq);
}

export interface ChartBox {
  width: number;
  height: number;
  padding: { top: number; right: number; bottom: number; left: number };
}

export interface ChartScale {
  yMax: number;
  x: (t: number) => number;
  y: (v: number) => number;
  points: Array<{ x: number; y: number; point: RiskPoint }>;
  /** NEWS2 thresholds drawn as guide lines: 5 (medium) and 7 (high). */
  guides: Array<{ value: number; y: number; label: string }>;
}

/**
 * Maps points into the chart box: time left to right (a single point in the middle), value
 * bottom to top from 0 to at least 10 for NEWS2 (the thresholds stay visible; a higher total
 * raises the top) or 0..1 for other risk scores.
 */
export function scaleChart(points: readonly RiskPoint[], box: ChartBox): ChartScale {
  const { width, height, padding } = box;
  const left = padding.left;
  const right = width - padding.right;
  const top = padding.top;
  const bottom = height - padding.bottom;
  const news2 = points.length === 0 || points.every((p) => p.news2);
  const maxValue = points.reduce((m, p) => Math.max(m, p.value), 0);
  const yMax = news2 ? Math.min(20, Math.max(10, Math.ceil(maxValue))) : 1;
  const t0 = points.length ? Math.min(...points.map((p) => p.t)) : 0;
  const t1 = points.length ? Math.max(...points.map((p) => p.t)) : 0;
  const x = (t: number) => (t1 === t0 ? (left + right) / 2 : left + ((t - t0) / (t1 - t0)) * (right - left));
  const y = (v: number) => bottom - (Math.min(Math.max(v, 0), yMax) / yMax) * (bottom - top);
  const guides = news2
    ? [
        { value: 5, y: y(5), label: "5 medium" },
        { value: 7, y: y(7), label: "7 high" },
      ]
    : [];
  return { yMax, x, y, points: points.map((p) => ({ x: x(p.t), y: y(p.value), point: p })), guides };
}

export function bandClass(level: string): string {
  switch (level) {
    case "high":
    case "critical":
      return "band-high";
    case "medium":
      return "band-medium";
    case "low-medium":
      return "band-low-medium";
    default:
      return "band-low";
  }
}
