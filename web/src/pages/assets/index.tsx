import { useCallback, useMemo, useState } from 'react'
import { Empty, Input, Select, Space, Typography } from 'antd'
import { useQuery } from '@tanstack/react-query'
import { Link, useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { datasetQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { assetPageQuery, type AssetFilters, type Mark, type Side, type Tvt } from './paging'
import { Grid } from './Grid'
import { Viewer } from './Viewer'

const MARKS: Mark[] = ['tp', 'fp', 'fn', 'mtp']
const TVTS: Tvt[] = ['train', 'val', 'test', 'unknown']

export default function Assets() {
  const { t } = useTranslation('asset')
  const params = useParams()
  const pid = Number(params.pid)
  const did = Number(params.did)
  const dataset = useQuery(datasetQuery(did))
  const [className, setClassName] = useState<string | undefined>()
  const [side, setSide] = useState<Side>('any')
  const [mark, setMark] = useState<Mark | undefined>()
  const [tvt, setTvt] = useState<Tvt | undefined>()
  const [tag, setTag] = useState<string | undefined>()
  const [open, setOpen] = useState<number | null>(null)
  const filters: AssetFilters = useMemo(
    () => ({ class_name: className, side, mark, tvt, tag }),
    [className, side, mark, tvt, tag],
  )
  const classes = useMemo(
    () => [...new Set([...Object.keys(dataset.data?.gt_stats ?? {}), ...Object.keys(dataset.data?.pred_stats ?? {})])].sort(),
    [dataset.data],
  )

  const head = useQuery(assetPageQuery(did, filters, 0))
  const total = head.data?.total ?? 0
  const mined = head.data?.items[0]?.tags.mining_score !== undefined
  const move = useCallback(
    (i: number) => {
      if (i >= 0 && i < total) setOpen(i)
    },
    [total],
  )

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
        {mined && (
          <Typography.Text type="secondary" data-testid="sorted-by-score">
            {t('byScore')}
          </Typography.Text>
        )}
        <ClearableFilter name="class" width={150} value={className} onChange={setClassName} options={classes.map((c) => ({ value: c, label: c }))} />
        <Select<Side>
          style={{ width: 120 }}
          value={side}
          onChange={setSide}
          options={(['any', 'gt', 'pred'] as const).map((s) => ({ value: s, label: t(`side.${s}`) }))}
          data-testid="filter-side"
        />
        <ClearableFilter name="mark" width={110} value={mark} onChange={setMark} options={MARKS.map((m) => ({ value: m, label: m.toUpperCase() }))} />
        <ClearableFilter name="tvt" width={110} value={tvt} onChange={setTvt} options={TVTS.map((v) => ({ value: v, label: t(`tvts.${v}`) }))} />
        <Input.Search
          allowClear
          placeholder={t('tag')}
          style={{ width: 180 }}
          onSearch={(v) => setTag(v.trim() || undefined)}
          data-testid="filter-tag"
        />
      </Space>
      <ErrorAlert error={head.error} />
      {head.isSuccess && total === 0 && <Empty description={t('empty')} />}
      <Grid datasetId={did} filters={filters} head={head.data} follow={open} onOpen={setOpen} />
      {open !== null && (
        <Viewer
          datasetId={did}
          filters={filters}
          classes={classes}
          index={open}
          total={total}
          mediaToken={head.data?.media_token}
          onMove={move}
          onClose={() => setOpen(null)}
        />
      )}
    </>
  )
}

/** One of the grid's filters that may be left empty (every asset), its placeholder the translation of
 * ``name``: ``data-testid="filter-<name>"``. */
function ClearableFilter<T extends string>({
  name,
  width,
  value,
  onChange,
  options,
}: {
  name: 'class' | 'mark' | 'tvt'
  width: number
  value: T | undefined
  onChange: (value: T | undefined) => void
  options: { value: T; label: string }[]
}) {
  const { t } = useTranslation('asset')
  return (
    <Select<T>
      allowClear
      placeholder={t(name)}
      style={{ width }}
      value={value}
      onChange={onChange}
      options={options}
      data-testid={`filter-${name}`}
    />
  )
}
