import { useEffect, useState } from 'react'
import { Button, Card, Form, InputNumber, Select, Space } from 'antd'
import { useQuery } from '@tanstack/react-query'
import { useParams, useSearchParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { imagesQuery, modelsQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors } from '../../components/forms'
import { TemplateEditor } from '../../components/TemplateEditor'
import { configOf, rowsOf, type TemplateRow } from '../../components/template'
import { StartedTask } from '../../components/StartedTask'
import { useDatasetOptions } from './TrainForm'

interface Values {
  dataset_id: number
  model_id: number
  image_id: number
  topk?: number
  gpu_count: number
}

/** Mining (top-K most useful assets) or inference (predictions on a version) with a model. */
export default function ModelTaskForm({ kind }: { kind: 'mine' | 'infer' }) {
  const { t } = useTranslation('model')
  const pid = Number(useParams().pid)
  const [search] = useSearchParams()
  const [form] = Form.useForm<Values>()
  const images = useQuery(imagesQuery)
  const models = useQuery(modelsQuery(pid))
  const datasets = useDatasetOptions(pid)
  const capability = kind === 'mine' ? 'mining' : 'infer'
  const imageId = Form.useWatch('image_id', form)
  const image = images.data?.find((i) => i.id === imageId)
  const [rows, setRows] = useState<TemplateRow[]>([])
  const [cfgErrors, setCfgErrors] = useState<Record<string, string>>({})
  const [error, setError] = useState<unknown>(null)
  const [task, setTask] = useState<Schemas['TaskOut'] | null>(null)

  useEffect(() => setRows(rowsOf(image?.templates?.[capability] as Record<string, unknown> | undefined)), [image, capability])
  useEffect(() => {
    const first = images.data?.find((i) => i.capabilities.includes(capability))
    if (first && form.getFieldValue('image_id') === undefined) form.setFieldValue('image_id', first.id)
    const d = Number(search.get('dataset'))
    const m = Number(search.get('model'))
    if (d) form.setFieldValue('dataset_id', d)
    if (m) form.setFieldValue('model_id', m)
  }, [images.data, capability, form, search])

  const submit = async (v: Values) => {
    setError(null)
    const { config, errors } = configOf(rows)
    setCfgErrors(errors)
    if (Object.keys(errors).length) return
    const path = { project_id: pid }
    try {
      setTask(
        kind === 'mine'
          ? await unwrap(api.POST('/api/v1/projects/{project_id}/models/mine', { params: { path }, body: { ...v, topk: v.topk ?? 1, config } }))
          : await unwrap(api.POST('/api/v1/projects/{project_id}/models/infer', { params: { path }, body: { ...v, config } })),
      )
    } catch (e) {
      setError(e)
      showFieldErrors(form, e)
    }
  }

  return (
    <Card title={t(kind === 'mine' ? 'mineTitle' : 'inferTitle')} style={{ maxWidth: 900 }}>
      <ErrorAlert error={error} />
      <Form form={form} layout="vertical" name={kind} onFinish={submit} initialValues={{ gpu_count: 0, topk: 100 }}>
        <Space wrap>
          <Form.Item name="dataset_id" label={t('dataset')} rules={[{ required: true, message: t('required') }]}>
            <Select options={datasets} style={{ width: 300 }} />
          </Form.Item>
          <Form.Item name="model_id" label={t('model')} rules={[{ required: true, message: t('required') }]}>
            <Select style={{ width: 220 }}
              options={(models.data?.items ?? []).filter((m) => m.state === 'ready').map((m) => ({ value: m.id, label: `#${m.id} v${m.version_num} mAP ${m.map50_95?.toFixed(3) ?? '—'}` }))} />
          </Form.Item>
          {kind === 'mine' && (
            <Form.Item name="topk" label={t('topk')} rules={[{ required: true, message: t('required') }]}>
              <InputNumber min={1} />
            </Form.Item>
          )}
          <Form.Item name="image_id" label={t('image')}>
            <Select style={{ width: 220 }}
              options={(images.data ?? []).filter((i) => i.capabilities.includes(capability)).map((i) => ({ value: i.id, label: i.name }))} />
          </Form.Item>
          <Form.Item name="gpu_count" label={t('gpuCount')}>
            <InputNumber min={0} />
          </Form.Item>
        </Space>
        <Form.Item label={t('config')}>
          <TemplateEditor rows={rows} onChange={setRows} errors={cfgErrors} />
        </Form.Item>
        <Button type="primary" htmlType="submit" data-testid="start-task">
          {t(kind === 'mine' ? 'startMining' : 'startInfer')}
        </Button>
      </Form>
      {task && <StartedTask task={task} next={`/projects/${pid}/datasets`} />}
    </Card>
  )
}
