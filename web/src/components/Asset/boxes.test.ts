import { describe, expect, it } from 'vitest'
import { classesOf, drawBoxes, fitView, hitTest, toScreen, visibleBoxes, zoomAt, type Ctx } from './boxes'

const asset = {
  gt: [{ class_name: 'cat', x: 1, y: 2, w: 3, h: 4 }],
  pred: [
    { class_name: 'cat', x: 1, y: 2, w: 3, h: 5, score: 0.9 },
    { class_name: 'dog', x: 5, y: 5, w: 2, h: 2, score: 0.2 },
  ],
}
const all = { showGt: true, showPred: true, minScore: 0, hiddenClasses: new Set<string>() }

describe('visibleBoxes', () => {
  it('draws gt and pred boxes, predictions labelled with their score', () => {
    const drawn = visibleBoxes(asset, all)
    expect(drawn.map((b) => [b.side, b.label])).toEqual([
      ['gt', 'cat'],
      ['pred', 'cat 0.90'],
      ['pred', 'dog 0.20'],
    ])
  })
  it('hides predictions under the confidence threshold', () => {
    expect(visibleBoxes(asset, { ...all, minScore: 0.5 }).map((b) => b.label)).toEqual(['cat', 'cat 0.90'])
  })
  it('hides a class and a side', () => {
    expect(visibleBoxes(asset, { ...all, hiddenClasses: new Set(['cat']) }).map((b) => b.label)).toEqual(['dog 0.20'])
    expect(visibleBoxes(asset, { ...all, showPred: false }).map((b) => b.side)).toEqual(['gt'])
  })
  it('lists the classes', () => {
    expect(classesOf([asset])).toEqual(['cat', 'dog'])
  })
})

describe('views', () => {
  it('fits an image inside a box, centred', () => {
    expect(fitView(200, 100, 100, 100)).toEqual({ scale: 0.5, x: 0, y: 25 })
  })
  it('zooms around the pointer: the image point under it stays there', () => {
    const v = fitView(200, 100, 100, 100)
    const z = zoomAt(v, 2, 30, 40, 0.1, 10)
    const imgX = (30 - v.x) / v.scale
    const imgY = (40 - v.y) / v.scale
    expect(z.scale).toBe(1)
    expect(z.x + imgX * z.scale).toBeCloseTo(30)
    expect(z.y + imgY * z.scale).toBeCloseTo(40)
    expect(zoomAt(v, 1000, 0, 0, 0.1, 4).scale).toBe(4)
  })
  it('places boxes on screen', () => {
    const drawn = visibleBoxes(asset, all)
    expect(toScreen(drawn, { scale: 2, x: 10, y: 20 })[0]).toEqual({
      side: 'gt',
      class_name: 'cat',
      label: 'cat',
      x: 12,
      y: 24,
      w: 6,
      h: 8,
    })
  })
})

describe('hitTest', () => {
  const boxes = toScreen(
    visibleBoxes({ gt: [{ class_name: 'a', x: 0, y: 0, w: 100, h: 100 }, { class_name: 'b', x: 40, y: 40, w: 10, h: 10 }], pred: [] }, all),
    { scale: 1, x: 0, y: 0 },
  )
  it('picks the smallest box under the pointer', () => {
    expect(hitTest(boxes, 45, 45)).toBe(1)
    expect(hitTest(boxes, 20, 20)).toBe(0)
    expect(hitTest(boxes, 300, 300)).toBe(-1)
  })
})

describe('drawBoxes', () => {
  it('strokes one path per side and class, dashed for predictions, and labels each box', () => {
    const calls: string[] = []
    const ctx = {
      beginPath: () => calls.push('begin'),
      rect: (x: number, y: number) => calls.push(`rect ${x},${y}`),
      stroke: () => calls.push('stroke'),
      fillRect: () => {},
      fillText: (t: string) => calls.push(`text ${t}`),
      measureText: (t: string) => ({ width: t.length * 6 }),
      setLineDash: (d: number[]) => calls.push(`dash ${d.length}`),
      strokeStyle: '',
      fillStyle: '',
      lineWidth: 1,
      font: '',
      textBaseline: 'top',
      globalAlpha: 1,
    } as unknown as Ctx
    drawBoxes(ctx, toScreen(visibleBoxes(asset, all), { scale: 1, x: 0, y: 0 }), { labels: true, highlight: -1, lineWidth: 2, font: 12 })
    expect(calls.filter((c) => c === 'stroke')).toHaveLength(3) // gt cat, pred cat, pred dog
    expect(calls.filter((c) => c.startsWith('rect'))).toHaveLength(3)
    expect(calls).toContain('dash 2')
    expect(calls.filter((c) => c.startsWith('text'))).toEqual(['text cat', 'text ⋯ cat 0.90', 'text ⋯ dog 0.20'])
  })
})
