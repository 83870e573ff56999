import { useEffect, useRef } from 'react'
import type { EChartsCoreOption } from 'echarts/core'
import { echarts } from './echarts'

/** Renders one option (built by a pure, tested build*Option function). */
export function Chart({ option, height = 300, testId }: { option: EChartsCoreOption; height?: number; testId?: string }) {
  const el = useRef<HTMLDivElement>(null)
  useEffect(() => {
    if (!el.current) return
    const chart = echarts.init(el.current, undefined, { renderer: 'svg' })
    chart.setOption(option)
    const ro = new ResizeObserver(() => chart.resize())
    ro.observe(el.current)
    return () => {
      ro.disconnect()
      chart.dispose()
    }
  }, [option])
  return <div ref={el} style={{ width: '100%', height }} data-testid={testId} />
}
