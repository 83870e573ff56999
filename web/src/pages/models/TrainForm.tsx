import { useEffect, useMemo, useState } from 'react'
import { Button, Card, Form, Input, InputNumber, Select, Space } from 'antd'
import { useQuery } from '@tanstack/react-query'
import { Link, useParams, useSearchParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { datasetGroupsQuery, datasetsQuery, imagesQuery, modelsQuery, projectQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors } from '../../components/forms'
import { TemplateEditor } from '../../components/TemplateEditor'
import { configOf, rowsOf, type TemplateRow } from '../../components/template'
import { StartedTask } from '../../components/StartedTask'

interface Values {
  training_dataset_id: number
  validation_dataset_id: number
  image_id: number
  pretrained_model_id?: number
  gpu_count: number
  class_names: string[]
  group_name?: string
}

export function useDatasetOptions(pid: number) {
  const versions = useQuery(datasetsQuery(pid))
  const groups = useQuery(datasetGroupsQuery(pid))
  return useMemo(() => {
    const names = new Map((groups.data ?? []).map((g) => [g.id, g.name]))
    return (versions.data?.items ?? [])
      .filter((v) => v.state === 'ready')
      .map((v) => ({ value: v.id, label: `${names.get(v.group_id) ?? v.group_id} v${v.version_num} (#${v.id}, ${v.asset_count})` }))
  }, [versions.data, groups.data])
}

export default function TrainForm() {
  const { t } = useTranslation('model')
  const pid = Number(useParams().pid)
  const [search] = useSearchParams()
  const [form] = Form.useForm<Values>()
  const project = useQuery(projectQuery(pid))
  const images = useQuery(imagesQuery)
  const models = useQuery(modelsQuery(pid))
  const datasets = useDatasetOptions(pid)
  const imageId = Form.useWatch('image_id', form)
  const image = images.data?.find((i) => i.id === imageId)
  const [rows, setRows] = useState<TemplateRow[]>([])
  const [cfgErrors, setCfgErrors] = useState<Record<string, string>>({})
  const [error, setError] = useState<unknown>(null)
  const [task, setTask] = useState<Schemas['TaskOut'] | null>(null)

  useEffect(() => setRows(rowsOf(image?.templates?.training as Record<string, unknown> | undefined)), [image])
  useEffect(() => {
    const first = images.data?.find((i) => i.capabilities.includes('training'))
    if (first && form.getFieldValue('image_id') === undefined) form.setFieldValue('image_id', first.id)
  }, [images.data, form])
  useEffect(() => {
    if (project.data && !form.isFieldTouched('class_names')) form.setFieldValue('class_names', project.data.training_classes)
    const preset = Number(search.get('dataset'))
    if (preset) form.setFieldValue('training_dataset_id', preset)
    if (project.data?.training_dataset_id && !preset) form.setFieldValue('training_dataset_id', project.data.training_dataset_id)
    if (project.data?.validation_dataset_id) form.setFieldValue('validation_dataset_id', project.data.validation_dataset_id)
  }, [project.data, search, form])

  const submit = async (v: Values) => {
    setError(null)
    const { config, errors } = configOf(rows)
    setCfgErrors(errors)
    if (Object.keys(errors).length) return
    try {
      setTask(await unwrap(api.POST('/api/v1/projects/{project_id}/models/train', { params: { path: { project_id: pid } }, body: { ...v, config } })))
    } catch (e) {
      setError(e)
      showFieldErrors(form, e)
    }
  }

  return (
    <Card title={t('trainTitle')} style={{ maxWidth: 900 }}>
      <ErrorAlert error={error ?? images.error} />
      <Form form={form} layout="vertical" name="train" onFinish={submit} initialValues={{ gpu_count: 0, class_names: [] }}>
        <Space wrap>
          <Form.Item name="training_dataset_id" label={t('trainingSet')} rules={[{ required: true, message: t('required') }]}>
            <Select options={datasets} style={{ width: 300 }} data-testid="training-set" />
          </Form.Item>
          <Form.Item name="validation_dataset_id" label={t('validationSet')} rules={[{ required: true, message: t('required') }]}>
            <Select options={datasets} style={{ width: 300 }} data-testid="validation-set" />
          </Form.Item>
        </Space>
        <Form.Item name="class_names" label={t('classes')}>
          <Select mode="tags" />
        </Form.Item>
        <Space wrap>
          <Form.Item name="image_id" label={t('image')} rules={[{ required: true, message: t('required') }]}>
            <Select style={{ width: 260 }}
              options={(images.data ?? []).filter((i) => i.capabilities.includes('training')).map((i) => ({ value: i.id, label: i.name }))} />
          </Form.Item>
          <Form.Item name="pretrained_model_id" label={t('pretrained')}>
            <Select allowClear style={{ width: 220 }}
              options={(models.data?.items ?? []).filter((m) => m.state === 'ready').map((m) => ({ value: m.id, label: `#${m.id} v${m.version_num}` }))} />
          </Form.Item>
          <Form.Item name="gpu_count" label={t('gpuCount')}>
            <InputNumber min={0} />
          </Form.Item>
          <Form.Item name="group_name" label={t('groupName')}>
            <Input />
          </Form.Item>
        </Space>
        <Form.Item label={t('config')}>
          <TemplateEditor rows={rows} onChange={setRows} errors={cfgErrors} />
        </Form.Item>
        <Space>
          <Button type="primary" htmlType="submit" data-testid="start-training">
            {t('startTraining')}
          </Button>
          <Link to={`/projects/${pid}/models`}>{t('toModels')}</Link>
        </Space>
      </Form>
      {task && <StartedTask task={task} next={`/projects/${pid}/models`} />}
    </Card>
  )
}
