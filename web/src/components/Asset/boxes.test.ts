import { describe, expect, it } from 'vitest'
import { classesOf, visibleBoxes } from './boxes'

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
