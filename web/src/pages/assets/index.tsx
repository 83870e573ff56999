import { memo, useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { Button, Checkbox, Empty, Modal, Select, Slider, Space, Tag, Typography } from 'antd'
import { useInfiniteQuery, useQuery } from '@tanstack/react-query'
import { useVirtualizer } from '@tanstack/react-virtual'
import { Link, useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { datasetQuery, keys } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { AuthedImage } from '../../components/Asset/AuthedImage'
import { BoxOverlay } from '../../components/Asset/BoxOverlay'
import { classesOf, visibleBoxes } from '../../components/Asset/boxes'

type Asset = Schemas['AssetOut']
type Side = 'any' | 'gt' | 'pred'
type Mark = 'tp' | 'fp' | 'fn' | 'mtp'

const PAGE = 60
const MAX_LABELLED = 150 // above this many boxes, class and score show on hover only
const CELL = 180

export default function Assets() {
  const { t } = useTranslation('asset')
  const params = useParams()
  const pid = Number(params.pid)
  const did = Number(params.did)
  const dataset = useQuery(datasetQuery(did))
  const [className, setClassName] = useState<string | undefined>()
  const [side, setSide] = useState<Side>('any')
  const [mark, setMark] = useState<Mark | undefined>()
  const [open, setOpen] = useState<number | null>(null)
  const filters = { class_name: className, side, mark }

  const pages = useInfiniteQuery({
    queryKey: keys.datasets.assets(did, filters),
    initialPageParam: 0,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/v1/datasets/{dataset_id}/assets', {
          params: { path: { dataset_id: did }, query: { ...filters, offset: pageParam, limit: PAGE } },
        }),
      ),
    getNextPageParam: (last) => (last.offset + last.items.length < last.total ? last.offset + last.items.length : undefined),
  })
  const assets = useMemo(() => pages.data?.pages.flatMap((p) => p.items) ?? [], [pages.data])
  const total = pages.data?.pages[0]?.total ?? 0
  const classes = useMemo(
    () => [...new Set([...Object.keys(dataset.data?.gt_stats ?? {}), ...Object.keys(dataset.data?.pred_stats ?? {})])].sort(),
    [dataset.data],
  )

  // the grid: rows of as many CELL-wide thumbnails as fit, only the visible rows rendered
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
  const rowCount = Math.ceil(total / columns)
  const rows = useVirtualizer({ count: rowCount, getScrollElement: () => scroller.current, estimateSize: () => CELL, overscan: 3 })
  const virtualRows = rows.getVirtualItems()
  const lastRow = virtualRows[virtualRows.length - 1]?.index ?? 0
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = pages
  useEffect(() => {
    if ((lastRow + 1) * columns >= assets.length && hasNextPage && !isFetchingNextPage) void fetchNextPage()
  }, [lastRow, columns, assets.length, hasNextPage, isFetchingNextPage, fetchNextPage])

  return (
    <>
      <Space style={{ marginBottom: 12 }} wrap>
        <Link to={`/projects/${pid}/datasets`}>{t('back')}</Link>
        <Typography.Title level={4} style={{ margin: 0 }}>
          {t('title', { id: did })}
        </Typography.Title>
        <Typography.Text type="secondary" data-testid="asset-total">
          {t('total', { count: total })}
        </Typography.Text>
        <Select
          allowClear
          placeholder={t('class')}
          style={{ width: 160 }}
          value={className}
          onChange={setClassName}
          options={classes.map((c) => ({ value: c, label: c }))}
          data-testid="filter-class"
        />
        <Select<Side>
          style={{ width: 120 }}
          value={side}
          onChange={setSide}
          options={(['any', 'gt', 'pred'] as const).map((s) => ({ value: s, label: t(`side.${s}`) }))}
          data-testid="filter-side"
        />
        <Select<Mark>
          allowClear
          placeholder={t('mark')}
          style={{ width: 120 }}
          value={mark}
          onChange={setMark}
          options={(['tp', 'fp', 'fn', 'mtp'] as const).map((m) => ({ value: m, label: m.toUpperCase() }))}
          data-testid="filter-mark"
        />
      </Space>
      <ErrorAlert error={pages.error} />
      {pages.isSuccess && total === 0 && <Empty description={t('empty')} />}
      <div ref={scroller} style={{ height: 'calc(100vh - 190px)', overflow: 'auto' }} data-testid="grid">
        <div style={{ height: rows.getTotalSize(), position: 'relative' }}>
          {virtualRows.map((row) => (
            <div key={row.index} style={{ position: 'absolute', top: row.start, left: 0, display: 'flex', gap: 4 }}>
              {Array.from({ length: columns }, (_, c) => {
                const i = row.index * columns + c
                const a = assets[i]
                if (i >= total) return null
                return (
                  <Thumb key={c} datasetId={did} asset={a} onOpen={() => a && setOpen(i)} />
                )
              })}
            </div>
          ))}
        </div>
      </div>
      {open !== null && assets[open] && (
        <Viewer
          datasetId={did}
          assets={assets}
          index={open}
          total={total}
          onMove={(i) => {
            if (i >= assets.length - 1 && hasNextPage) void fetchNextPage()
            if (i >= 0 && i < assets.length) setOpen(i)
          }}
          onClose={() => setOpen(null)}
        />
      )}
    </>
  )
}

const NO_CLASSES = new Set<string>()
const ALL = { showGt: true, showPred: true, minScore: 0, hiddenClasses: NO_CLASSES }

/** One grid cell: memoized, so scrolling re-renders only the rows that appear. */
const Thumb = memo(function Thumb({ datasetId, asset, onOpen }: { datasetId: number; asset: Asset | undefined; onOpen: () => void }) {
  const boxes = useMemo(() => (asset ? visibleBoxes(asset, ALL) : []), [asset])
  return (
    <div
      style={{ width: CELL - 4, height: CELL - 4, position: 'relative', cursor: 'pointer', background: '#f0f2f5' }}
      onClick={onOpen}
      data-testid="thumb"
      data-asset={asset?.asset_id}
    >
      {asset && (
        <>
          <AuthedImage datasetId={datasetId} assetId={asset.asset_id} size={256} style={{ width: '100%', height: '100%', objectFit: 'contain' }} />
          <BoxOverlay width={asset.width} height={asset.height} labels={false} boxes={boxes} />
        </>
      )}
    </div>
  )
}, (a, b) => a.asset === b.asset && a.datasetId === b.datasetId)

function Viewer(props: { datasetId: number; assets: Asset[]; index: number; total: number; onMove: (i: number) => void; onClose: () => void }) {
  const { t } = useTranslation('asset')
  const { assets, index, onMove } = props
  const asset = assets[index]!
  const [minScore, setMinScore] = useState(0.2)
  const [showGt, setShowGt] = useState(true)
  const [showPred, setShowPred] = useState(true)
  const [hidden, setHidden] = useState<Set<string>>(new Set())
  const classes = useMemo(() => classesOf([asset]), [asset])
  const boxes = visibleBoxes(asset, { showGt, showPred, minScore, hiddenClasses: hidden })

  const onKey = useCallback(
    (e: KeyboardEvent) => {
      if (e.key === 'ArrowRight') onMove(index + 1)
      else if (e.key === 'ArrowLeft') onMove(index - 1)
    },
    [index, onMove],
  )
  useEffect(() => {
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [onKey])

  return (
    <Modal open width={1000} footer={null} onCancel={props.onClose} title={`${index + 1} / ${props.total} · ${asset.asset_id.slice(0, 12)}`}>
      <Space wrap style={{ marginBottom: 8 }}>
        <Checkbox checked={showGt} onChange={(e) => setShowGt(e.target.checked)} data-testid="show-gt">
          {t('gt')}
        </Checkbox>
        <Checkbox checked={showPred} onChange={(e) => setShowPred(e.target.checked)} data-testid="show-pred">
          {t('pred')}
        </Checkbox>
        <span>{t('confidence')}</span>
        <Slider min={0} max={1} step={0.05} value={minScore} onChange={setMinScore} style={{ width: 160 }} data-testid="confidence" />
        {classes.map((c) => (
          <Tag.CheckableTag
            key={c}
            checked={!hidden.has(c)}
            onChange={(on) => setHidden((h) => { const n = new Set(h); if (on) n.delete(c); else n.add(c); return n })}
          >
            {c}
          </Tag.CheckableTag>
        ))}
      </Space>
      <div style={{ position: 'relative', width: '100%', height: 600, background: '#111' }} data-testid="viewer"
        data-width={asset.width} data-height={asset.height}>
        <AuthedImage datasetId={props.datasetId} assetId={asset.asset_id} size={null}
          style={{ width: '100%', height: '100%', objectFit: 'contain' }} />
        <BoxOverlay width={asset.width} height={asset.height} boxes={boxes} labels={boxes.length <= MAX_LABELLED} />
      </div>
      <Space style={{ marginTop: 8 }}>
        <Button onClick={() => onMove(index - 1)} disabled={index === 0}>
          {t('prev')}
        </Button>
        <Button onClick={() => onMove(index + 1)} disabled={index >= props.total - 1} data-testid="next">
          {t('next')}
        </Button>
        <Typography.Text type="secondary">
          {asset.width}×{asset.height} · {asset.tvt} · {t('keys')}
        </Typography.Text>
      </Space>
    </Modal>
  )
}
