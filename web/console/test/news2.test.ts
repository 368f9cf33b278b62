import { describe, expect, it } from "vitest";
import { mergePoints, riskPoint, scaleChart, subScores, type RiskPoint } from "../src/lib/news2";

// The explanation plugins/news2 puts on risk_updated.
const explanation = {
  method: "NEWS2 (RCP 2017)",
  total: 7,
  band: "high",
  spo2_scale: 1,
  parameters: {
    temperature: { value: 38.4, score: 1 },
    respiratory_rate: { value: 24, score: 2 },
    spo2: { value: 93, score: 2 },
    on_oxygen: { value: false, score: 0 },
    systolic_bp: { value: 105, score: 1 },
    pulse: { value: 112, score: 1 },
    consciousness: { value: "A", score: 0 },
  },
  red_score: false,
  oxygen_assumed: false,
  observations: ["Observation/o1"],
  summary: "NEWS2 7 (high)",
};

function event(id: string, seq: number, at: string, total: number | null, score = 0.35) {
  return {
    id,
    seq,
    timestamp: at,
    risk_score: score,
    risk_level: total !== null && total >= 7 ? "high" : "low",
    explanation: total === null ? { model: "x" } : { ...explanation, total },
  };
}

describe("NEWS2 explanation", () => {
  it("gives each parameter's value and sub-score in chart order", () => {
    const rows = subScores(explanation);
    expect(rows.map((r) => r.parameter)).toEqual([
      "respiratory_rate",
      "spo2",
      "on_oxygen",
      "systolic_bp",
      "pulse",
      "consciousness",
      "temperature",
    ]);
    expect(rows.map((r) => r.score)).toEqual([2, 2, 0, 1, 1, 0, 1]);
    expect(rows.find((r) => r.parameter === "on_oxygen")!.display).toBe("Air");
    expect(rows.find((r) => r.parameter === "spo2")!.display).toBe("93 %");
    expect(rows.find((r) => r.parameter === "temperature")!.display).toBe("38.4 °C");
  });

  it("charts the NEWS2 total, or the risk score for other models", () => {
    expect(riskPoint(event("a", 1, "2030-01-01T10:00:00Z", 7))).toMatchObject({
      value: 7,
      news2: true,
      level: "high",
    });
    expect(riskPoint(event("b", 2, "2030-01-01T10:00:00Z", null, 0.42))).toMatchObject({
      value: 0.42,
      news2: false,
      subScores: [],
    });
    expect(riskPoint({ ...event("c", 3, "nope", 1) })).toBeNull();
  });

  it("merges history and live scores once per event, in time order", () => {
    const p = (id: string, seq: number, at: string) => riskPoint(event(id, seq, at, 3))!;
    const merged = mergePoints(
      [p("a", 1, "2030-01-01T10:00:00Z"), p("b", 2, "2030-01-01T11:00:00Z")],
      [p("c", 4, "2030-01-01T10:30:00Z"), p("b", 2, "2030-01-01T11:00:00Z")],
    );
    expect(merged.map((x) => x.eventId)).toEqual(["a", "c", "b"]);
  });
});

describe("scaleChart", () => {
  const box = { width: 200, height: 120, padding: { top: 10, right: 10, bottom: 10, left: 20 } };
  const pts = (values: Array<[string, number]>): RiskPoint[] =>
    values.map(([at, v], i) => riskPoint(event(`e${i}`, i, at, v))!);

  it("spreads time across the width and value from the bottom (0) up", () => {
    const scale = scaleChart(
      pts([
        ["2030-01-01T10:00:00Z", 0],
        ["2030-01-01T11:00:00Z", 5],
        ["2030-01-01T12:00:00Z", 10],
      ]),
      box,
    );
    expect(scale.yMax).toBe(10);
    expect(scale.points.map((p) => p.x)).toEqual([20, 105, 190]);
    expect(scale.points.map((p) => p.y)).toEqual([110, 60, 10]);
  });

  it("keeps 0-10 visible for low scores and raises the top for higher totals", () => {
    expect(scaleChart(pts([["2030-01-01T10:00:00Z", 2]]), box).yMax).toBe(10);
    expect(scaleChart(pts([["2030-01-01T10:00:00Z", 14]]), box).yMax).toBe(14);
  });

  it("puts a single score in the middle", () => {
    const [only] = scaleChart(pts([["2030-01-01T10:00:00Z", 5]]), box).points;
    expect(only!.x).toBe(105);
  });

  it("draws the medium (5) and high (7) thresholds for NEWS2", () => {
    const scale = scaleChart(pts([["2030-01-01T10:00:00Z", 1]]), box);
    expect(scale.guides.map((g) => [g.value, g.y])).toEqual([
      [5, 60],
      [7, 40],
    ]);
  });

  it("scales other risk scores 0..1 without NEWS2 guides", () => {
    const point = riskPoint(event("m", 1, "2030-01-01T10:00:00Z", null, 0.5))!;
    const scale = scaleChart([point], box);
    expect(scale.yMax).toBe(1);
    expect(scale.points[0]!.y).toBe(60);
    expect(scale.guides).toEqual([]);
  });
});
