import { bandClass, scaleChart, type ChartBox, type RiskPoint } from "../lib/news2";
import { formatClock } from "../lib/time";

export const CHART_BOX: ChartBox = {
  width: 360,
  height: 140,
  padding: { top: 10, right: 12, bottom: 22, left: 28 },
};

/** NEWS2 trend as a small inline SVG: line, one dot per score coloured by band, guides. */
export function RiskChart({
  points,
  selected,
  onSelect,
  box = CHART_BOX,
}: {
  points: RiskPoint[];
  selected: string | null;
  onSelect: (eventId: string) => void;
  box?: ChartBox;
}) {
  const scale = scaleChart(points, box);
  const { width, height, padding } = box;
  const bottom = height - padding.bottom;
  const first = points[0];
  const last = points[points.length - 1];
  const news2 = points.every((p) => p.news2);
  return (
    <svg
      className="risk-chart"
      data-testid="risk-chart"
      data-points={points.length}
      viewBox={`0 0 ${width} ${height}`}
      width="100%"
      role="img"
      aria-label={
        last
          ? `${news2 ? "NEWS2" : "Risk"} trend, ${points.length} scores, latest ${last.value}`
          : "No scores yet"
      }
    >
      <line className="axis" x1={padding.left} y1={bottom} x2={width - padding.right} y2={bottom} />
      <line className="axis" x1={padding.left} y1={padding.top} x2={padding.left} y2={bottom} />
      <text className="tick" x={padding.left - 4} y={bottom} textAnchor="end" dominantBaseline="middle">
        0
      </text>
      <text
        className="tick"
        x={padding.left - 4}
        y={scale.y(scale.yMax)}
        textAnchor="end"
        dominantBaseline="middle"
      >
        {scale.yMax}
      </text>
      {scale.guides.map((g) => (
        <g key={g.value} className="guide">
          <line x1={padding.left} y1={g.y} x2={width - padding.right} y2={g.y} />
          <text x={width - padding.right} y={g.y - 2} textAnchor="end">
            {g.label}
          </text>
        </g>
      ))}
      {scale.points.length > 1 && (
        <polyline
          className="trend"
          fill="none"
          points={scale.points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ")}
        />
      )}
      {scale.points.map(({ x, y, point }) => (
        <circle
          key={point.eventId}
          className={`point ${bandClass(point.level)}${point.eventId === selected ? " selected" : ""}`}
          data-testid="risk-point"
          data-value={point.value}
          cx={x}
          cy={y}
          r={point.eventId === selected ? 5 : 3.5}
          onClick={() => onSelect(point.eventId)}
        >
          <title>
            {formatClock(new Date(point.t).toISOString())}: {point.value} ({point.level})
          </title>
        </circle>
      ))}
      {first && (
        <text className="tick" x={padding.left} y={height - 6} textAnchor="start">
          {formatClock(new Date(first.t).toISOString())}
        </text>
      )}
      {last && last !== first && (
        <text className="tick" x={width - padding.right} y={height - 6} textAnchor="end">
          {formatClock(new Date(last.t).toISOString())}
        </text>
      )}
    </svg>
  );
}
