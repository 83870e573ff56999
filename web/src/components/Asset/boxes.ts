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

/** Where the image sits on screen: screen = offset + image pixel × scale (CSS pixels of the canvas). */
export interface View {
  scale: number
  x: number
  y: number
}

/** The view that fits a w×h image inside a box of the given size, centred (CSS object-fit: contain). */
export function fitView(imageW: number, imageH: number, boxW: number, boxH: number): View {
  if (imageW <= 0 || imageH <= 0 || boxW <= 0 || boxH <= 0) return { scale: 1, x: 0, y: 0 }
  const scale = Math.min(boxW / imageW, boxH / imageH)
  return { scale, x: (boxW - imageW * scale) / 2, y: (boxH - imageH * scale) / 2 }
}

/** The view after zooming by ``factor`` around the screen point (px, py), within [minScale, maxScale]. */
export function zoomAt(v: View, factor: number, px: number, py: number, minScale: number, maxScale: number): View {
  const scale = Math.min(maxScale, Math.max(minScale, v.scale * factor))
  const k = scale / v.scale
  return { scale, x: px - (px - v.x) * k, y: py - (py - v.y) * k }
}

/** A drawn box in screen (CSS) pixels of the canvas, rounded to 0.1 px: what the test hook exposes. */
export interface ScreenBox {
  side: 'gt' | 'pred'
  class_name: string
  label: string
  x: number
  y: number
  w: number
  h: number
}

const r1 = (n: number) => Math.round(n * 10) / 10

export function toScreen(boxes: readonly DrawnBox[], v: View): ScreenBox[] {
  return boxes.map((b) => ({
    side: b.side,
    class_name: b.class_name,
    label: b.label,
    x: r1(v.x + b.x * v.scale),
    y: r1(v.y + b.y * v.scale),
    w: r1(b.w * v.scale),
    h: r1(b.h * v.scale),
  }))
}

/**
 * The box under the screen point (px, py): the smallest one containing it, so a box inside another can
 * be pointed at; -1 when none. ``slack`` widens each box, making thin boxes easy to hit.
 */
export function hitTest(boxes: readonly ScreenBox[], px: number, py: number, slack = 3): number {
  let best = -1
  let bestArea = Infinity
  for (let i = 0; i < boxes.length; i++) {
    const b = boxes[i]!
    if (px < b.x - slack || py < b.y - slack || px > b.x + b.w + slack || py > b.y + b.h + slack) continue
    const area = b.w * b.h
    if (area < bestArea) {
      best = i
      bestArea = area
    }
  }
  return best
}

export interface DrawOptions {
  /** write each box's label next to it (off for thumbnails and crowded images: hover shows it) */
  labels: boolean
  /** the box drawn highlighted (hovered), -1 for none */
  highlight: number
  lineWidth: number
  font: number
}

/** The smallest 2D-context surface drawBoxes uses (so it is testable without a browser). */
export type Ctx = Pick<
  CanvasRenderingContext2D,
  | 'beginPath'
  | 'rect'
  | 'stroke'
  | 'fillRect'
  | 'fillText'
  | 'measureText'
  | 'setLineDash'
  | 'strokeStyle'
  | 'fillStyle'
  | 'lineWidth'
  | 'font'
  | 'textBaseline'
  | 'globalAlpha'
>

/**
 * Draws the boxes: ground truth solid, predictions dashed and a little transparent, each in its
 * class's colour; with ``labels``, gt names above the box and prediction "class score" inside its
 * bottom edge, on a filled tag so they read on any image. Boxes of one style are batched into one path.
 */
export function drawBoxes(ctx: Ctx, boxes: readonly ScreenBox[], o: DrawOptions): void {
  const colors = new Map<string, ScreenBox[]>()
  boxes.forEach((b) => {
    const key = `${b.side}\u0000${b.class_name}`
    const list = colors.get(key)
    if (list) list.push(b)
    else colors.set(key, [b])
  })
  ctx.lineWidth = o.lineWidth
  for (const [key, list] of colors) {
    const [side, name] = key.split('\u0000') as ['gt' | 'pred', string]
    ctx.strokeStyle = classColor(name)
    ctx.setLineDash(side === 'pred' ? [6, 4] : [])
    ctx.globalAlpha = side === 'pred' ? 0.9 : 1
    ctx.beginPath()
    for (const b of list) ctx.rect(b.x, b.y, b.w, b.h)
    ctx.stroke()
  }
  ctx.setLineDash([])
  ctx.globalAlpha = 1
  if (o.labels) for (const b of boxes) drawLabel(ctx, b, o.font)
  const hot = boxes[o.highlight]
  if (hot) {
    ctx.lineWidth = o.lineWidth + 2
    ctx.strokeStyle = '#fff'
    ctx.beginPath()
    ctx.rect(hot.x, hot.y, hot.w, hot.h)
    ctx.stroke()
    ctx.lineWidth = o.lineWidth
    ctx.strokeStyle = classColor(hot.class_name)
    ctx.setLineDash(hot.side === 'pred' ? [6, 4] : [])
    ctx.beginPath()
    ctx.rect(hot.x, hot.y, hot.w, hot.h)
    ctx.stroke()
    ctx.setLineDash([])
    drawLabel(ctx, hot, o.font)
  }
}

function drawLabel(ctx: Ctx, b: ScreenBox, font: number): void {
  const text = b.side === 'gt' ? b.label : `⋯ ${b.label}`
  ctx.font = `${b.side === 'gt' ? 'bold ' : ''}${font}px sans-serif`
  ctx.textBaseline = 'top'
  const w = ctx.measureText(text).width + 6
  const h = font + 4
  const y = b.side === 'gt' ? Math.max(0, b.y - h) : b.y + b.h - h
  ctx.fillStyle = b.side === 'gt' ? classColor(b.class_name) : 'rgba(0,0,0,0.6)'
  ctx.fillRect(b.x, y, w, h)
  ctx.fillStyle = '#fff'
  ctx.fillText(text, b.x + 3, y + 2)
}
