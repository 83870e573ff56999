import { useMemo, useState } from 'react'
import { Button, Card, Col, Descriptions, Empty, Row, Slider, Space, Table, Typography, Upload } from 'antd'
import { useQuery } from '@tanstack/react-query'
import { Link, useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { modelEvaluationQuery, modelQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { DownloadModel } from './ModelPackage'
import { BoxOverlay } from '../../components/Asset/BoxOverlay'
import { visibleBoxes } from '../../components/Asset/boxes'
import { Chart } from '../../charts/Chart'
import { buildApBarOption, buildPrCurveOption, type PrCurve } from '../../charts/options'

interface Evaluation {
  map?: number
  map50?: number
  per_class?: Record<string, { ap: number; ap50: number }>
  pr_curves?: Record<string, PrCurve>
}

export default function ModelDetail() {
  const { t } = useTranslation('model')
  const params = useParams()
  const pid = Number(params.pid)
  const mid = Number(params.mid)
  const model = useQuery(modelQuery(mid))
  const stages = useQuery({
    queryKey: ['models', 'stages', mid],
    queryFn: () => unwrap(api.GET('/api/v1/models/{model_id}/stages', { params: { path: { model_id: mid } } })),
  })
  const evaluation = useQuery(modelEvaluationQuery(mid))
  const ev = evaluation.data as Evaluation | undefined
  const apOption = useMemo(() => buildApBarOption(ev?.per_class ?? {}), [ev])
  const prOption = useMemo(() => buildPrCurveOption(ev?.pr_curves ?? {}, { recall: t('recall'), precision: t('precision') }), [ev, t])
  const m = model.data

  return (
    <>
      <Space style={{ marginBottom: 12 }}>
        <Link to={`/projects/${pid}/models`}>{t('back')}</Link>
        <Typography.Title level={4} style={{ margin: 0 }}>
          {t('detailTitle', { id: mid })}
        </Typography.Title>
        {model.data?.state === 'ready' && <DownloadModel modelId={mid} />}
      </Space>
      <ErrorAlert error={model.error} />
      {m && (
        <Descriptions bordered size="small" column={3} style={{ marginBottom: 16 }}>
          <Descriptions.Item label="mAP">{m.map50_95?.toFixed(3) ?? '—'}</Descriptions.Item>
          <Descriptions.Item label="mAP50">{m.map50?.toFixed(3) ?? '—'}</Descriptions.Item>
          <Descriptions.Item label={t('bestStage')}>{m.best_stage ?? '—'}</Descriptions.Item>
          <Descriptions.Item label={t('classes')}>{m.class_names.join(', ')}</Descriptions.Item>
          <Descriptions.Item label={t('trainingSet')}>{m.training_dataset_id ?? '—'}</Descriptions.Item>
          <Descriptions.Item label={t('hash')}>{m.model_hash?.slice(0, 12) ?? '—'}</Descriptions.Item>
        </Descriptions>
      )}
      <Row gutter={16}>
        <Col span={12}>
          <Card title={t('perClassAp')} size="small">
            {ev?.per_class ? <Chart option={apOption} testId="ap-chart" /> : <Empty description={t('noEvaluation')} />}
          </Card>
        </Col>
        <Col span={12}>
          <Card title={t('prCurves')} size="small">
            {ev?.pr_curves && Object.keys(ev.pr_curves).length ? <Chart option={prOption} testId="pr-chart" /> : <Empty description={t('noEvaluation')} />}
          </Card>
        </Col>
      </Row>
      <Card title={t('stages')} size="small" style={{ marginTop: 16 }}>
        <Table<Schemas['ModelStageOut']>
          rowKey="name"
          size="small"
          pagination={false}
          dataSource={stages.data ?? []}
          columns={[
            { title: t('stage'), dataIndex: 'name' },
            { title: t('metrics'), dataIndex: 'metrics', render: (v: Record<string, unknown>) => Object.entries(v).map(([k, x]) => `${k}: ${typeof x === 'number' ? x.toFixed(3) : String(x)}`).join(' · ') },
          ]}
        />
      </Card>
      {m?.state === 'ready' && <Verify modelId={mid} />}
    </>
  )
}

/** Verification: upload one image, the model's boxes drawn over it, a confidence slider. */
function Verify({ modelId }: { modelId: number }) {
  const { t } = useTranslation('model')
  const [result, setResult] = useState<Schemas['VerificationOut'] | null>(null)
  const [url, setUrl] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [minScore, setMinScore] = useState(0.25)

  const run = async (file: File) => {
    setBusy(true)
    setError(null)
    try {
      const out = await unwrap(
        api.POST('/api/v1/models/{model_id}/verify', {
          params: { path: { model_id: modelId } },
          body: { file: file as unknown as string, conf_threshold: 0.05 },
          bodySerializer: () => {
            const fd = new FormData()
            fd.append('file', file)
            fd.append('conf_threshold', '0.05')
            return fd
          },
        }),
      )
      if (url) URL.revokeObjectURL(url)
      setUrl(URL.createObjectURL(file))
      setResult(out)
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  const boxes = result ? visibleBoxes({ gt: [], pred: result.boxes }, { showGt: false, showPred: true, minScore, hiddenClasses: new Set() }) : []
  return (
    <Card title={t('verify')} size="small" style={{ marginTop: 16 }}>
      <ErrorAlert error={error} />
      <Space wrap style={{ marginBottom: 8 }}>
        <Upload accept="image/*" showUploadList={false} beforeUpload={(f) => { void run(f); return false }}>
          <Button loading={busy} data-testid="verify-upload">{t('verifyUpload')}</Button>
        </Upload>
        <span>{t('confidence')}</span>
        <Slider min={0} max={1} step={0.05} value={minScore} onChange={setMinScore} style={{ width: 160 }} />
        {result && <Typography.Text type="secondary" data-testid="verify-summary">{t('verifySummary', { count: boxes.length, ms: Math.round(result.elapsed_ms) })}</Typography.Text>}
      </Space>
      {result && url && (
        <div style={{ position: 'relative', width: '100%', height: 420, background: '#111' }} data-testid="verify-view">
          <img src={url} alt="" style={{ width: '100%', height: '100%', objectFit: 'contain' }} />
          <BoxOverlay width={result.width} height={result.height} boxes={boxes} />
        </div>
      )}
    </Card>
  )
}
