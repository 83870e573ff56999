// Which boxes the viewer draws and how: pure, so it is unit-tested.
export interface Box {
  class_name: string
  x: number
  y: number
  w: number
  h: number
  score?: number | null
  mark?: string | null
}

export interface AssetBoxes {
  gt: Box[]
  pred: Box[]
}

export interface BoxFilter {
  showGt: boolean
  showPred: boolean
  /** predictions scoring below this are hidden (gt boxes have no score) */
  minScore: number
  hiddenClasses: ReadonlySet<string>
}

export interface DrawnBox extends Box {
  side: 'gt' | 'pred'
  label: string
}

export function visibleBoxes(asset: AssetBoxes, f: BoxFilter): DrawnBox[] {
  const out: DrawnBox[] = []
  if (f.showGt) {
    for (const b of asset.gt) {
      if (!f.hiddenClasses.has(b.class_name)) out.push({ ...b, side: 'gt', label: b.class_name })
    }
  }
  if (f.showPred) {
    for (const b of asset.pred) {
      if (f.hiddenClasses.has(b.class_name) || (b.score ?? 1) < f.minScore) continue
      const score = b.score === null || b.score === undefined ? '' : ` ${b.score.toFixed(2)}`
      out.push({ ...b, side: 'pred', label: `${b.class_name}${score}` })
    }
  }
  return out
}

/** The classes present on an asset list, sorted (for the class toggles). */
export function classesOf(assets: AssetBoxes[]): string[] {
  const names = new Set<string>()
  for (const a of assets) for (const b of [...a.gt, ...a.pred]) names.add(b.class_name)
  return [...names].sort()
}

/** A stable color per class. */
export function classColor(name: string): string {
  let h = 0
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) % 360
  return `hsl(${h}, 80%, 45%)`
}
