import { describe, expect, it } from 'vitest'
import { buildApBarOption, buildPrCurveOption, buildRoundsOption } from './options'

describe('chart options', () => {
  it('one PR line per class, points as [recall, precision]', () => {
    const o = buildPrCurveOption({ cat: { recall: [0, 0.5, 1], precision: [1, 0.8, 0.1] } }, { recall: 'R', precision: 'P' }) as {
      series: { name: string; data: number[][] }[]
    }
    expect(o.series).toHaveLength(1)
    expect(o.series[0]!.name).toBe('cat')
    expect(o.series[0]!.data).toEqual([[0, 1], [0.5, 0.8], [1, 0.1]])
  })
  it('AP bars sorted by class', () => {
    const o = buildApBarOption({ dog: { ap: 0.5, ap50: 0.7 }, cat: { ap: 0.12345, ap50: 0.2 } }) as {
      xAxis: { data: string[] }
      series: { data: number[] }[]
    }
    expect(o.xAxis.data).toEqual(['cat', 'dog'])
    expect(o.series[0]!.data).toEqual([0.123, 0.5])
  })
  it('rounds against the target', () => {
    const o = buildRoundsOption([{ round: 1, map: 0.3 }, { round: 2, map: null }], 0.8, 'mAP') as {
      series: { data: (number | null)[]; markLine?: { data: { yAxis: number }[] } }[]
    }
    expect(o.series[0]!.data).toEqual([0.3, null])
    expect(o.series[0]!.markLine?.data[0]?.yAxis).toBe(0.8)
  })
})
