import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import { Button, Checkbox, Slider, Space, Spin, Tag, Typography } from 'antd'
import { useQuery } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { BoxCanvas } from '../../components/Asset/BoxCanvas'
import { AssetImage } from '../../components/Asset/AssetImage'
import { fitView, visibleBoxes, zoomAt, type View } from '../../components/Asset/boxes'
import { mediaUrl } from '../../components/Asset/media'
import { assetPageQuery, pageOf, PAGE, type AssetFilters } from './paging'

const MAX_LABELLED = 150 // above this many boxes, class and score show on hover only
const HEIGHT = 600

/**
 * One image with its boxes: gt solid, predictions dashed with their score; a confidence slider, a
 * toggle per class, wheel to zoom, drag to pan, double-click to fit, ← → for the previous / next, Esc
 * or a click beside it to close. It reads its asset from the same cached pages as the grid (fetching the
 * page when moving past it).
 *
 * A plain overlay, not an antd Modal: the Modal's first render (its styles, the scroll lock measuring
 * the page, the focus trap, the opening animation) was most of the time to open an image.
 */
export function Viewer(props: {
  datasetId: number
  filters: AssetFilters
  classes: string[]
  index: number
  total: number
  mediaToken: string | undefined
  onMove: (i: number) => void
  onClose: () => void
}) {
  const { t } = useTranslation('asset')
  const { datasetId, filters, index, total, onMove, mediaToken } = props
  const page = useQuery(assetPageQuery(datasetId, filters, pageOf(index)))
  const asset = page.data?.items[index - pageOf(index) * PAGE]
  const [minScore, setMinScore] = useState(0.2)
  const [showGt, setShowGt] = useState(true)
  const [showPred, setShowPred] = useState(true)
  const [hidden, setHidden] = useState<ReadonlySet<string>>(() => new Set())
  const boxes = useMemo(
    () => (asset ? visibleBoxes(asset, { showGt, showPred, minScore, hiddenClasses: hidden }) : []),
    [asset, showGt, showPred, minScore, hidden],
  )

  // the stage: its size, and the view (null = the image fitted, centred)
  // (a callback ref: the modal mounts its content after this component's first effects)
  const [stage, setStage] = useState<HTMLDivElement | null>(null)
  const [size, setSize] = useState({ w: 952, h: HEIGHT })
  useEffect(() => {
    const el = stage
    if (!el) return
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }))
    ro.observe(el)
    return () => ro.disconnect()
  }, [stage])
  const [zoomed, setZoomed] = useState<{ id: string; view: View } | null>(null)
  const fit = useMemo(() => fitView(asset?.width ?? 1, asset?.height ?? 1, size.w, size.h), [asset, size])
  const view = zoomed && zoomed.id === asset?.asset_id ? zoomed.view : fit
  const viewRef = useRef(view)
  useLayoutEffect(() => {
    viewRef.current = view
  })

  // wheel zoom around the pointer (a native listener: React's wheel listener is passive)
  const assetId = asset?.asset_id
  useEffect(() => {
    const el = stage
    if (!el || !assetId) return
    const onWheel = (e: WheelEvent) => {
      e.preventDefault()
      const r = el.getBoundingClientRect()
      const next = zoomAt(viewRef.current, Math.exp(-e.deltaY / 500), e.clientX - r.left, e.clientY - r.top, fit.scale / 2, Math.max(8, fit.scale * 32))
      setZoomed({ id: assetId, view: next })
    }
    el.addEventListener('wheel', onWheel, { passive: false })
    return () => el.removeEventListener('wheel', onWheel)
  }, [stage, assetId, fit])
  const drag = useRef<{ x: number; y: number; view: View } | null>(null)

  const { onClose } = props
  const onKey = useCallback(
    (e: KeyboardEvent) => {
      if (e.key === 'Escape') return onClose()
      // arrows on the confidence slider (or typing in a field) are theirs, not a move
      if (e.target instanceof Element && e.target.closest('input, textarea, [role=slider]')) return
      if (e.key === 'ArrowRight') onMove(index + 1)
      else if (e.key === 'ArrowLeft') onMove(index - 1)
      else if (e.key === '0') setZoomed(null)
    },
    [index, onMove, onClose],
  )
  useEffect(() => {
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [onKey])

  // the next image, fetched ahead so → shows it at once — once this one is shown, not competing with it
  const [shown, setShown] = useState<string | null>(null)
  const next = useQuery({ ...assetPageQuery(datasetId, filters, pageOf(index + 1)), enabled: index + 1 < total })
  const nextAsset = next.data?.items[index + 1 - pageOf(index + 1) * PAGE]
  const ahead = shown !== null && shown === asset?.asset_id ? nextAsset?.asset_id : undefined
  useEffect(() => {
    if (!ahead || !mediaToken) return
    const img = new Image()
    img.src = mediaUrl(datasetId, ahead, null, mediaToken)
  }, [datasetId, ahead, mediaToken])

  // focus moves into the dialog (keys reach it; a screen reader announces it) and back when it closes
  const dialog = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const before = document.activeElement
    dialog.current?.focus({ preventScroll: true })
    return () => {
      if (before instanceof HTMLElement) before.focus({ preventScroll: true })
    }
  }, [])

  const title = `${index + 1} / ${total}${asset ? ` · ${asset.asset_id.slice(0, 12)}` : ''}`
  return (
    <div
      style={{
        position: 'fixed',
        inset: 0,
        zIndex: 1000,
        background: 'rgba(0, 0, 0, 0.45)',
        overflow: 'auto',
        overscrollBehavior: 'contain',
        display: 'flex',
        justifyContent: 'center',
        alignItems: 'flex-start',
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose()
      }}
      data-testid="viewer-overlay"
    >
      <div
        ref={dialog}
        role="dialog"
        aria-modal="true"
        aria-labelledby="viewer-title"
        tabIndex={-1}
        style={{
          width: 1000,
          maxWidth: 'calc(100vw - 32px)',
          margin: '60px 0',
          padding: '16px 24px 20px',
          background: '#fff',
          borderRadius: 8,
          boxShadow: '0 6px 16px rgba(0, 0, 0, 0.12)',
          outline: 'none',
        }}
      >
        <div style={{ display: 'flex', justifyContent: 'space-between', alignItems: 'center', marginBottom: 8 }}>
          <Typography.Text strong id="viewer-title" data-testid="viewer-title">
            {title}
          </Typography.Text>
          <Button type="text" onClick={onClose} aria-label={t('close')} data-testid="viewer-close">
            ✕
          </Button>
        </div>
        <Space wrap style={{ marginBottom: 8 }}>
          <Checkbox checked={showGt} onChange={(e) => setShowGt(e.target.checked)} data-testid="show-gt">
            {t('gt')}
          </Checkbox>
          <Checkbox checked={showPred} onChange={(e) => setShowPred(e.target.checked)} data-testid="show-pred">
            {t('pred')}
          </Checkbox>
          <span>{t('confidence')}</span>
          <span data-testid="confidence">
            <Slider min={0} max={1} step={0.05} value={minScore} onChange={setMinScore} style={{ width: 160 }} />
          </span>
          {props.classes.map((c) => (
            <Tag.CheckableTag
              key={c}
              data-testid="class-toggle"
              checked={!hidden.has(c)}
              onChange={(on) =>
                setHidden((h) => {
                  const n = new Set(h)
                  if (on) n.delete(c)
                  else n.add(c)
                  return n
                })
              }
            >
              {c}
            </Tag.CheckableTag>
          ))}
        </Space>
        <div
          ref={setStage}
          style={{ position: 'relative', width: '100%', height: HEIGHT, background: '#111', overflow: 'hidden', cursor: 'grab', touchAction: 'none' }}
          data-testid="viewer"
          data-asset={asset?.asset_id}
          data-width={asset?.width}
          data-height={asset?.height}
          data-scale={view.scale}
          onPointerDown={(e) => {
            drag.current = { x: e.clientX, y: e.clientY, view: viewRef.current }
            e.currentTarget.setPointerCapture(e.pointerId)
          }}
          onPointerMove={(e) => {
            const d = drag.current
            if (!d || !asset) return
            const v = { scale: d.view.scale, x: d.view.x + e.clientX - d.x, y: d.view.y + e.clientY - d.y }
            setZoomed({ id: asset.asset_id, view: v })
          }}
          onPointerUp={() => {
            drag.current = null
          }}
          onDoubleClick={() => setZoomed(null)}
        >
          {asset ? (
            <>
              <AssetImage
                key={asset.asset_id}
                datasetId={datasetId}
                assetId={asset.asset_id}
                size={null}
                token={mediaToken}
                onLoad={() => setShown(asset.asset_id)}
                style={{
                  position: 'absolute',
                  left: 0,
                  top: 0,
                  width: asset.width,
                  height: asset.height,
                  maxWidth: 'none',
                  transformOrigin: '0 0',
                  transform: `translate(${view.x}px, ${view.y}px) scale(${view.scale})`,
                }}
              />
              <BoxCanvas width={size.w} height={size.h} view={view} boxes={boxes} labels={boxes.length <= MAX_LABELLED} hover expose />
            </>
          ) : (
            <Spin style={{ position: 'absolute', left: '50%', top: '50%' }} />
          )}
        </div>
        <Space style={{ marginTop: 8 }}>
          <Button onClick={() => onMove(index - 1)} disabled={index === 0}>
            {t('prev')}
          </Button>
          <Button onClick={() => onMove(index + 1)} disabled={index >= total - 1} data-testid="next">
            {t('next')}
          </Button>
          <Button onClick={() => setZoomed(null)} data-testid="fit">
            {t('fit')}
          </Button>
          {asset && (
            <Typography.Text type="secondary">
              {asset.width}×{asset.height} · {asset.tvt}
              {asset.tags.mining_score !== undefined ? ` · ${t('score')} ${asset.tags.mining_score}` : ''} · {t('keys')}
            </Typography.Text>
          )}
        </Space>
      </div>
    </div>
  )
}
