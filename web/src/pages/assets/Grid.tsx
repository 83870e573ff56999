import { memo, useEffect, useMemo, useRef, useState } from 'react'
import { useVirtualizer } from '@tanstack/react-virtual'
import { BoxCanvas } from '../../components/Asset/BoxCanvas'
import { fitView, visibleBoxes, type DrawnBox } from '../../components/Asset/boxes'
import { usePagedAssets, type Asset, type AssetFilters, type AssetPage } from './paging'
import { CELL, SIDE, Thumb } from './Thumb'

const NO_CLASSES = new Set<string>()
const ALL = { showGt: true, showPred: true, minScore: 0, hiddenClasses: NO_CLASSES }
const GAP = 4
const SAME = { scale: 1, x: 0, y: 0 }

/**
 * The virtualised grid: rows of as many CELL-wide thumbnails as fit, only the rows on screen rendered and
 * only their pages fetched. It is its own component so that scrolling re-renders the grid alone (not the
 * page's filters). The boxes of all rendered thumbnails are drawn on one canvas laid over those rows: it
 * scrolls with them, keeps its size (one backing store, one layer) and is redrawn only when the rendered
 * rows change — a canvas per thumbnail or per row made the browser allocate, composite and collect a
 * backing store for every row scrolled in.
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
  const boxes = useMemo(() => {
    const out: DrawnBox[] = []
    for (let r = firstRow; r <= lastRow && virtualRows.length; r++) {
      for (let c = 0; c < columns && r * columns + c < total; c++) {
        const a = at(r * columns + c)
        if (a) cellBoxes(a, c * CELL, (r - firstRow) * CELL, out)
      }
    }
    return out
  }, [firstRow, lastRow, columns, total, at, virtualRows.length])

  return (
    <div ref={scroller} style={{ height: 'calc(100vh - 190px)', overflow: 'auto', contain: 'strict' }} data-testid="grid">
      <div style={{ height: rows.getTotalSize(), position: 'relative' }}>
        {virtualRows.length > 0 && (
          <div style={{ position: 'absolute', left: 0, top: 0, transform: `translateY(${top}px)`, zIndex: 1, pointerEvents: 'none' }}>
            <BoxCanvas width={columns * CELL} height={height} view={SAME} boxes={boxes} labels={false} testId="grid-boxes" />
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
              onOpen={onOpen}
            />
          )
        })}
      </div>
    </div>
  )
})

/** One row of thumbnails, re-rendered only when one of its assets changes (a page arrived) or it moved. */
const Row = memo(
  function Row(props: {
    top: number
    first: number
    assets: (Asset | undefined)[]
    datasetId: number
    mediaToken: string | undefined
    onOpen: (index: number) => void
  }) {
    const { top, first, assets, datasetId, mediaToken, onOpen } = props
    return (
      <div style={{ position: 'absolute', top: 0, left: 0, transform: `translateY(${top}px)`, display: 'flex', gap: GAP }}>
        {assets.map((a, c) => (
          <Thumb key={first + c} datasetId={datasetId} asset={a} index={first + c} mediaToken={mediaToken} onOpen={onOpen} />
        ))}
      </div>
    )
  },
  (a, b) =>
    a.top === b.top &&
    a.first === b.first &&
    a.datasetId === b.datasetId &&
    a.mediaToken === b.mediaToken &&
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
