import { useState } from 'react'
import { Button, Card, Checkbox, Form, Input, Progress, Radio, Segmented, Select, Space, Upload } from 'antd'
import type { UploadFile } from 'antd'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, fetchWithProgress, unwrap, type Schemas } from '../../api/client'
import { keys, publicDatasetsQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors } from '../../components/forms'
import { StartedTask } from '../../components/StartedTask'
import { useDatasetOptions } from '../models/TrainForm'
import { SharingBrowser } from './SharingBrowser'

type Source = 'upload' | 'url' | 'path' | 'copy'
type Strategy = 'stop' | 'ignore' | 'add'

interface Values {
  group_name: string
  unknown_types_strategy: Strategy
  url?: string
  path?: string
  with_predictions?: boolean
  source_dataset_id?: number
  file?: unknown
}

export default function ImportWizard() {
  const { t } = useTranslation('dataset')
  const pid = Number(useParams().pid)
  const [source, setSource] = useState<Source>('upload')
  const [files, setFiles] = useState<UploadFile[]>([])
  const [progress, setProgress] = useState<number | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [task, setTask] = useState<Schemas['TaskOut'] | null>(null)
  const [form] = Form.useForm<Values>()
  const queryClient = useQueryClient()
  const mine = useDatasetOptions(pid)
  const published = useQuery({ ...publicDatasetsQuery, enabled: source === 'copy' })
  const copyOptions = [
    { label: t('copyMine'), options: mine },
    {
      label: t('copyPublic'),
      options: (published.data?.items ?? []).map((d) => ({
        value: d.id,
        label: `${d.group_name} v${d.version_num} · ${d.project_name} · ${d.owner} (#${d.id}, ${d.asset_count})`,
      })),
    },
  ]

  const submit = async (v: Values) => {
    setError(null)
    setTask(null)
    const path = { project_id: pid }
    const common = { group_name: v.group_name, unknown_types_strategy: v.unknown_types_strategy }
    try {
      let started
      if (source === 'upload') {
        const file = files[0]?.originFileObj
        if (!file) {
          form.setFields([{ name: 'file', errors: [t('fileRequired')] }])
          return
        }
        setProgress(0)
        started = await unwrap(
          api.POST('/api/v1/projects/{project_id}/datasets/upload', {
            params: { path },
            body: { ...common, file: file as unknown as string },
            bodySerializer: (b) => {
              const fd = new FormData()
              fd.append('group_name', b.group_name)
              fd.append('unknown_types_strategy', b.unknown_types_strategy ?? 'add')
              fd.append('file', file)
              return fd
            },
            fetch: fetchWithProgress(setProgress),
          }),
        )
      } else if (source === 'url') {
        started = await unwrap(api.POST('/api/v1/projects/{project_id}/datasets/url', { params: { path }, body: { ...common, url: v.url ?? '' } }))
      } else if (source === 'path') {
        started = await unwrap(
          api.POST('/api/v1/projects/{project_id}/datasets/path', {
            params: { path },
            body: { ...common, path: v.path ?? '', with_predictions: !!v.with_predictions },
          }),
        )
      } else {
        started = await unwrap(
          api.POST('/api/v1/projects/{project_id}/datasets/copy', {
            params: { path },
            body: { ...common, source_dataset_id: v.source_dataset_id ?? 0 },
          }),
        )
      }
      setTask(started)
    } catch (e) {
      setError(e)
      showFieldErrors(form, e)
    } finally {
      setProgress(null)
      void queryClient.invalidateQueries({ queryKey: keys.datasets.all })
    }
  }

  return (
    <Card title={t('importTitle')} style={{ maxWidth: 720 }}>
      <Segmented<Source>
        data-testid="import-source"
        value={source}
        onChange={setSource}
        options={(['upload', 'url', 'path', 'copy'] as const).map((s) => ({ value: s, label: t(`source.${s}`) }))}
        style={{ marginBottom: 16 }}
      />
      <ErrorAlert error={error} />
      <Form form={form} layout="vertical" name="import" onFinish={submit}
        initialValues={{ unknown_types_strategy: 'add', group_name: '' }}>
        <Form.Item name="group_name" label={t('groupName')} rules={[{ required: true, message: t('groupNameRequired') }]}>
          <Input />
        </Form.Item>
        {source === 'upload' && (
          <Form.Item name="file" label={t('zip')} extra={t('zipHelp')}>
            <Upload
              accept=".zip"
              maxCount={1}
              beforeUpload={() => false}
              fileList={files}
              onChange={({ fileList }) => setFiles(fileList)}
            >
              <Button data-testid="choose-zip">{t('chooseZip')}</Button>
            </Upload>
          </Form.Item>
        )}
        {source === 'url' && (
          <Form.Item name="url" label={t('url')} rules={[{ required: true, message: t('urlRequired') }]}>
            <Input placeholder="https://…/dataset.zip" />
          </Form.Item>
        )}
        {source === 'path' && (
          <>
            <Form.Item name="path" label={t('path')} extra={t('pathHelp')} rules={[{ required: true, message: t('pathRequired') }]}>
              <Input placeholder="voc/train" />
            </Form.Item>
            <SharingBrowser onPick={(p) => form.setFields([{ name: 'path', value: p, errors: [] }])} />
            <Form.Item name="with_predictions" valuePropName="checked">
              <Checkbox>{t('withPredictions')}</Checkbox>
            </Form.Item>
          </>
        )}
        {source === 'copy' && (
          <Form.Item name="source_dataset_id" label={t('sourceDataset')} extra={t('sourceDatasetHelp')}
            rules={[{ required: true, message: t('sourceDatasetRequired') }]}>
            <Select showSearch optionFilterProp="label" options={copyOptions} placeholder={t('sourceDatasetPick')} />
          </Form.Item>
        )}
        <Form.Item name="unknown_types_strategy" label={t('strategy')}>
          <Radio.Group
            options={(['add', 'ignore', 'stop'] as const).map((s) => ({ value: s, label: t(`strategies.${s}`) }))}
          />
        </Form.Item>
        {progress !== null && <Progress percent={Math.round(progress * 100)} data-testid="upload-progress" />}
        <Space>
          <Button type="primary" htmlType="submit" loading={progress !== null} data-testid="start-import">
            {t('start')}
          </Button>
          <Link to={`/projects/${pid}/datasets`}>{t('backToList')}</Link>
        </Space>
      </Form>
      {task && <StartedTask task={task} next={`/projects/${pid}/datasets`} note={t('importStarted')} />}
    </Card>
  )
}
