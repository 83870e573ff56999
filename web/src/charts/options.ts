// Pure builders of chart options (unit-tested); components only render them.
import type { EChartsCoreOption } from 'echarts/core'

export interface PrCurve {
  recall: number[]
  precision: number[]
}

/** One precision-recall line per class (IoU 0.5). */
export function buildPrCurveOption(curves: Record<string, PrCurve>, labels: { recall: string; precision: string }): EChartsCoreOption {
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 50, right: 20, top: 40, bottom: 40 },
    xAxis: { type: 'value', min: 0, max: 1, name: labels.recall, nameLocation: 'middle', nameGap: 25 },
    yAxis: { type: 'value', min: 0, max: 1, name: labels.precision },
    series: Object.entries(curves).map(([name, c]) => ({
      name,
      type: 'line',
      showSymbol: false,
      data: c.recall.map((r, i) => [r, c.precision[i] ?? 0]),
    })),
  }
}

/** Per-class AP as bars. */
export function buildApBarOption(perClass: Record<string, { ap: number; ap50: number }>): EChartsCoreOption {
  const names = Object.keys(perClass).sort()
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 50, right: 20, top: 40, bottom: 30 },
    xAxis: { type: 'category', data: names },
    yAxis: { type: 'value', min: 0, max: 1 },
    series: [
      { name: 'AP', type: 'bar', data: names.map((n) => round(perClass[n]?.ap ?? 0)) },
      { name: 'AP50', type: 'bar', data: names.map((n) => round(perClass[n]?.ap50 ?? 0)) },
    ],
  }
}

/** mAP per round against the project's target. */
export function buildRoundsOption(rounds: { round: number; map: number | null }[], target: number | null, label: string): EChartsCoreOption {
  return {
    tooltip: { trigger: 'axis' },
    grid: { left: 50, right: 20, top: 30, bottom: 30 },
    xAxis: { type: 'category', data: rounds.map((r) => `R${r.round}`) },
    yAxis: { type: 'value', min: 0, max: 1 },
    series: [
      {
        name: label,
        type: 'line',
        data: rounds.map((r) => (r.map === null ? null : round(r.map))),
        ...(target !== null ? { markLine: { symbol: 'none', data: [{ yAxis: target, name: 'target' }] } } : {}),
      },
    ],
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000
}
