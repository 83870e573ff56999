import { memo, useEffect, useMemo, useRef, useState } from 'react'
import { useVirtualizer } from '@tanstack/react-virtual'
import { BoxCanvas } from '../../components/Asset/BoxCanvas'
import { fitView, visibleBoxes, type DrawnBox } from '../../components/Asset/boxes'
import { isFastScroll } from '../../components/Asset/media'
import { usePagedAssets, type Asset, type AssetFilters, type AssetPage } from './paging'
import { CELL, SIDE, Thumb } from './Thumb'

const NO_CLASSES = new Set<string>()
const ALL = { showGt: true, showPred: true, minScore: 0, hiddenClasses: NO_CLASSES }
const GAP = 4
const SAME = { scale: 1, x: 0, y: 0 }
/** how long after the last fast scroll event the rows on screen get their images and boxes */
const SETTLE_MS = 100

/**
 * The virtualised grid: rows of as many CELL-wide thumbnails as fit, only the rows on screen rendered and
 * only their pages fetched. It is its own component so that scrolling re-renders the grid alone (not the
 * page's filters). The boxes of all rendered thumbnails are drawn on one canvas laid over those rows: it
 * scrolls with them, keeps its size (one backing store, one layer) and is redrawn only when the rendered
 * rows change — a canvas per thumbnail or per row made the browser allocate, composite and collect a
 * backing store for every row scrolled in.
 *
 * Rows that fly past (a fast scroll: a fling, a dragged scrollbar) are empty tiles: no image requested,
 * the canvas not redrawn (it keeps the boxes of the rows it had, which scroll with it); they fill in
 * once the scroll slows or stops for SETTLE_MS. Requesting every thumbnail passed on the way queued
 * them ahead of the screen the user stopped on (an <img> removed from the page keeps its request), and
 * redrawing and uploading the canvas every frame was most of a frame's work.
 */
export const Grid = memo(function Grid(props: {
  datasetId: number
  filters: AssetFilters
  head: AssetPage | undefined
  /** an asset to keep in view (the one the viewer shows) */
  follow: number | null
  onOpen: (index: number) => void
}) {
  const { datasetId, filters, head, follow, onOpen } = props
  const total = head?.total ?? 0
  const scroller = useRef<HTMLDivElement>(null)
  const [width, setWidth] = useState(900)
  useEffect(() => {
    const el = scroller.current
    if (!el) return
    const ro = new ResizeObserver(() => setWidth(el.clientWidth))
    ro.observe(el)
    return () => ro.disconnect()
  }, [])
  const [still, setStill] = useState(true)
  useEffect(() => {
    const el = scroller.current
    if (!el) return
    let y = el.scrollTop
    let at = performance.now()
    let timer: number | undefined
    const onScroll = () => {
      const now = performance.now()
      const fast = isFastScroll(el.scrollTop - y, now - at)
      y = el.scrollTop
      at = now
      window.clearTimeout(timer)
      if (fast) {
        setStill(false)
        timer = window.setTimeout(() => setStill(true), SETTLE_MS)
      } else setStill(true)
    }
    el.addEventListener('scroll', onScroll, { passive: true })
    return () => {
      el.removeEventListener('scroll', onScroll)
      window.clearTimeout(timer)
    }
  }, [])
  const columns = Math.max(1, Math.floor(width / CELL))
  const rows = useVirtualizer({
    count: Math.ceil(total / columns),
    getScrollElement: () => scroller.current,
    estimateSize: () => CELL,
    overscan: 2,
  })
  const virtualRows = rows.getVirtualItems()
  const firstRow = virtualRows[0]?.index ?? 0
  const lastRow = virtualRows[virtualRows.length - 1]?.index ?? 0
  const at = usePagedAssets(datasetId, filters, head, firstRow * columns, (lastRow + 1) * columns - 1)
  const mediaToken = head?.media_token

  const { scrollToIndex } = rows
  useEffect(() => {
    if (follow !== null) scrollToIndex(Math.floor(follow / columns))
  }, [follow, columns, scrollToIndex])

  const top = virtualRows[0]?.start ?? 0
  const height = virtualRows.length ? virtualRows[virtualRows.length - 1]!.end - top : 0
  const fresh = useMemo(() => {
    if (!still || !virtualRows.length) return null
    const boxes: DrawnBox[] = []
    for (let r = firstRow; r <= lastRow; r++) {
      for (let c = 0; c < columns && r * columns + c < total; c++) {
        const a = at(r * columns + c)
        if (a) cellBoxes(a, c * CELL, (r - firstRow) * CELL, boxes)
      }
    }
    return { top, height, boxes }
  }, [still, firstRow, lastRow, columns, total, at, top, height, virtualRows.length])
  // while rows fly past, the canvas keeps what it drew last (where it drew it)
  const [drawn, setDrawn] = useState(fresh)
  if (fresh && fresh !== drawn) setDrawn(fresh)
  const canvas = fresh ?? drawn

  return (
    <div ref={scroller} style={{ height: 'calc(100vh - 190px)', overflow: 'auto', contain: 'strict' }} data-testid="grid">
      <div style={{ height: rows.getTotalSize(), position: 'relative' }}>
        {canvas && (
          <div style={{ position: 'absolute', left: 0, top: 0, transform: `translateY(${canvas.top}px)`, zIndex: 1, pointerEvents: 'none' }}>
            <BoxCanvas width={columns * CELL} height={canvas.height} view={SAME} boxes={canvas.boxes} labels={false} testId="grid-boxes" />
          </div>
        )}
        {virtualRows.map((row) => {
          const first = row.index * columns
          const assets: (Asset | undefined)[] = []
          for (let i = first; i < Math.min(first + columns, total); i++) assets.push(at(i))
          return (
            <Row
              key={row.index}
              top={row.start}
              first={first}
              assets={assets}
              datasetId={datasetId}
              mediaToken={mediaToken}
              still={still}
              onOpen={onOpen}
            />
          )
        })}
      </div>
    </div>
  )
})

/**
 * One row of thumbnails, re-rendered only when one of its assets changes (a page arrived), it moved, or
 * the scroll settled. Its images load once the grid was ``still`` while it was on screen (and stay).
 */
const Row = memo(
  function Row(props: {
    top: number
    first: number
    assets: (Asset | undefined)[]
    datasetId: number
    mediaToken: string | undefined
    still: boolean
    onOpen: (index: number) => void
  }) {
    const { top, first, assets, datasetId, mediaToken, still, onOpen } = props
    const [load, setLoad] = useState(still)
    if (still && !load) setLoad(true)
    return (
      <div style={{ position: 'absolute', top: 0, left: 0, transform: `translateY(${top}px)`, display: 'flex', gap: GAP }}>
        {assets.map((a, c) => (
          <Thumb key={first + c} datasetId={datasetId} asset={a} index={first + c} mediaToken={mediaToken} load={load} onOpen={onOpen} />
        ))}
      </div>
    )
  },
  (a, b) =>
    a.top === b.top &&
    a.first === b.first &&
    a.datasetId === b.datasetId &&
    a.mediaToken === b.mediaToken &&
    a.still === b.still &&
    a.onOpen === b.onOpen &&
    a.assets.length === b.assets.length &&
    a.assets.every((x, i) => x === b.assets[i]),
)

/** An asset's boxes, fitted in its SIDE x SIDE cell at (x0, y0) of the grid's canvas, added to ``out``. */
function cellBoxes(a: Asset, x0: number, y0: number, out: DrawnBox[]): void {
  const v = fitView(a.width, a.height, SIDE, SIDE)
  for (const b of visibleBoxes(a, ALL)) {
    out.push({ ...b, x: x0 + v.x + b.x * v.scale, y: y0 + v.y + b.y * v.scale, w: b.w * v.scale, h: b.h * v.scale })
  }
}
