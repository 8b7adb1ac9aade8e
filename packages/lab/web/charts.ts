import uPlot from 'uplot';
import { LAB_TRANSPORTS, LOOK, type LabTransport } from '../src/palette.js';
import { fmtBytes, fmtMs, fmtNumber, fmtTick } from './format.js';

/**
 * The page's live charts (uPlot). Every chart has one series per transport, in the same
 * order and colour as the panes, a time axis, and a unit on its value axis.
 */

const HEIGHT = 230;
/** Seconds of history on every chart. */
export const WINDOW_S = 60;

type Format = (value: number) => string;

function seriesFor(format: Format, points: boolean): uPlot.Series[] {
  return [
    {},
    ...LAB_TRANSPORTS.map(
      (t): uPlot.Series => ({
        label: LOOK[t].label,
        stroke: LOOK[t].colour,
        // (With no path drawn, the width only shapes the legend's marker.)
        width: 2,
        ...(points
          ? {
              paths: () => null,
              points: { show: true, size: 5, width: 0, fill: LOOK[t].colour, stroke: LOOK[t].colour },
            }
          : { points: { show: false } }),
        spanGaps: !points,
        value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : format(v)),
      }),
    ),
  ];
}

function makeChart(
  host: HTMLElement,
  options: { format: Format; tick: Format; log: boolean; points: boolean; axisLabel: string; minY?: number },
): uPlot {
  const width = Math.max(300, host.clientWidth);
  const opts: uPlot.Options = {
    width,
    height: HEIGHT,
    series: seriesFor(options.format, options.points),
    scales: {
      // Always the last WINDOW_S seconds up to now, on this page's clock: a steady axis
      // from the first second on, and the right one with no data at all (uPlot, left to
      // find a range for an empty or a single-point series, falls back to 1970 or to a
      // span of years).
      x: { time: true, range: () => { const now = Date.now() / 1000; return [now - WINDOW_S, now]; } },
      y: options.log ? { distr: 3, log: 10 } : { range: (_u, _min, max) => [0, Math.max(options.minY ?? 1, max * 1.1)] },
    },
    axes: [
      {
        stroke: '#555',
        grid: { stroke: '#eceef2', width: 1 },
        ticks: { stroke: '#d5d8de', width: 1 },
        // Clock time on one line, a tick every 10 s at least 70 px apart: no date (the
        // window is a minute), nothing wider than its slot.
        incrs: [5, 10, 15, 30, 60],
        space: 70,
        size: 30,
        values: (_u, splits) => splits.map((v) => (v === null ? '' : clockTime(v))),
      },
      {
        stroke: '#555',
        label: options.axisLabel,
        labelSize: 18,
        labelFont: '12px system-ui, sans-serif',
        size: 58,
        grid: { stroke: '#eceef2', width: 1 },
        ticks: { stroke: '#d5d8de', width: 1 },
        values: (_u, splits) => splits.map((v) => (v === null ? '' : options.tick(v))),
      },
    ],
    legend: { live: false },
    // The time axis as drawn, on the element, for the page's tests to read.
    hooks: {
      draw: [
        (u: uPlot) => {
          host.dataset.xMin = String(u.scales.x!.min);
          host.dataset.xMax = String(u.scales.x!.max);
        },
      ],
    },
    cursor: { points: { size: 6 } },
  };
  const empty: uPlot.AlignedData = [[], ...LAB_TRANSPORTS.map(() => [])];
  const chart = new uPlot(opts, empty, host);
  new ResizeObserver(() => {
    const w = Math.max(300, host.clientWidth);
    if (Math.abs(w - chart.width) > 2) chart.setSize({ width: w, height: HEIGHT });
  }).observe(host);
  return chart;
}

/** hh:mm:ss of a time in epoch seconds, on the page's time zone. */
export function clockTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** Per-message latency, as dots: one per message received by this page. */
export class LatencyChart {
  private readonly chart: uPlot;
  private readonly points = new Map<LabTransport, Array<[number, number]>>(LAB_TRANSPORTS.map((t) => [t, []]));
  /** Per transport, a cap that keeps drawing cheap at 100 events a second. */
  private static readonly MAX_POINTS = 3000;

  constructor(host: HTMLElement) {
    this.chart = makeChart(host, { format: fmtMs, tick: (v) => `${fmtNumber(v, 1)}`, log: true, points: true, axisLabel: 'ms' });
  }

  add(transport: LabTransport, atSeconds: number, latencyMs: number): void {
    const list = this.points.get(transport)!;
    // A log scale has no zero: below 10 µs is "10 µs".
    list.push([atSeconds, Math.max(0.01, latencyMs)]);
    if (list.length > LatencyChart.MAX_POINTS) list.splice(0, list.length - LatencyChart.MAX_POINTS);
  }

  clear(): void {
    for (const list of this.points.values()) list.length = 0;
    this.redraw();
  }

  redraw(): void {
    const horizon = Date.now() / 1000 - WINDOW_S;
    const rows: Array<[number, number, number]> = [];
    LAB_TRANSPORTS.forEach((t, i) => {
      const list = this.points.get(t)!;
      let drop = 0;
      while (drop < list.length && list[drop]![0] < horizon) drop++;
      if (drop > 0) list.splice(0, drop);
      for (const [x, y] of list) rows.push([x, i, y]);
    });
    rows.sort((a, b) => a[0] - b[0]);
    const xs: number[] = [];
    const ys: Array<Array<number | null>> = LAB_TRANSPORTS.map(() => []);
    for (const [x, i, y] of rows) {
      // Points at the same instant share a row.
      if (xs.length === 0 || xs[xs.length - 1] !== x) {
        xs.push(x);
        for (const col of ys) col.push(null);
      }
      ys[i]![ys[i]!.length - 1] = y;
    }
    this.chart.setData([xs, ...ys] as uPlot.AlignedData);
  }
}

/** A line per transport, one point per stats snapshot. */
export class SeriesChart {
  private readonly chart: uPlot;
  private readonly xs: number[] = [];
  private readonly ys: Array<Array<number | null>> = LAB_TRANSPORTS.map(() => []);
  private readonly log: boolean;

  constructor(host: HTMLElement, kind: 'rate' | 'bytes-rate' | 'bytes') {
    this.log = kind !== 'rate';
    const format: Format = kind === 'rate' ? (v) => `${fmtNumber(v)} req/s` : kind === 'bytes-rate' ? (v) => `${fmtBytes(v)}/s` : (v) => fmtBytes(v);
    this.chart = makeChart(host, {
      format,
      tick: kind === 'rate' ? fmtTick : (v) => fmtTick(v),
      log: kind !== 'rate',
      points: false,
      axisLabel: kind === 'rate' ? 'requests / s' : kind === 'bytes-rate' ? 'bytes / s' : 'bytes / message',
    });
  }

  push(atSeconds: number, values: Record<LabTransport, number | null>): void {
    this.xs.push(atSeconds);
    LAB_TRANSPORTS.forEach((t, i) => {
      const v = values[t];
      // Log scales have no zero: a zero is drawn as a gap.
      this.ys[i]!.push(v === null || !Number.isFinite(v) || (this.log && v <= 0) ? null : v);
    });
    const horizon = atSeconds - WINDOW_S;
    while (this.xs.length > 0 && this.xs[0]! < horizon) {
      this.xs.shift();
      for (const col of this.ys) col.shift();
    }
    this.chart.setData([this.xs, ...this.ys] as uPlot.AlignedData);
  }

  clear(): void {
    this.xs.length = 0;
    for (const col of this.ys) col.length = 0;
    this.chart.setData([this.xs, ...this.ys] as uPlot.AlignedData);
  }

}
