import { useState } from 'react'
import { Checkbox, Form, Input, InputNumber, Modal, Radio, Select, Space } from 'antd'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { keys, projectQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors, splitList } from '../../components/forms'
import { StartedTask } from '../../components/StartedTask'
import { testId } from '../../components/rows'
import type { FormAction } from './actions'

type Version = Schemas['DatasetVersionOut']

interface Values {
  others?: number[]
  exclude_dataset_ids?: number[]
  strategy?: 'stop' | 'host' | 'guest'
  group_name?: string
  include?: string[]
  exclude?: string[]
  anno_src?: 'gt' | 'pred' | 'any'
  count?: number | null
  rate?: number | null
  seed?: number
  class_names?: string[]
  annotators?: string
  instruction?: string
  pre_annotations?: 'none' | 'pred' | 'gt'
  conf_thr?: number
  iou_thr?: number
  anno_format?: 'voc' | 'coco' | 'yolo' | 'ark' | 'labelstudio'
  gt?: boolean
  pred?: boolean
}

/** What each action sends: the form's values in the API's body (the version is the first source). */
function start(pid: number, action: FormAction, v: Version, f: Values) {
  const path = { project_id: pid }
  const sample = { count: f.count ?? null, rate: f.rate ?? null, seed: f.seed ?? 0 }
  const merge = {  // what merge and fuse both send: the sources, in order, and where the result goes
    dataset_ids: [v.id, ...(f.others ?? [])],
    exclude_dataset_ids: f.exclude_dataset_ids ?? [],
    strategy: f.strategy ?? 'stop',
    group_name: f.group_name?.trim() || null,
  }
  switch (action) {
    case 'merge':
      return api.POST('/api/v1/projects/{project_id}/datasets/merge', { params: { path }, body: merge })
    case 'fuse':
      return api.POST('/api/v1/projects/{project_id}/datasets/fuse', {
        params: { path },
        body: {
          ...merge,
          include: f.include ?? [],
          exclude: f.exclude ?? [],
          anno_src: f.anno_src ?? 'any',
          ...sample,
        },
      })
    case 'filter':
      return api.POST('/api/v1/projects/{project_id}/datasets/filter', {
        params: { path },
        body: { dataset_id: v.id, include: f.include ?? [], exclude: f.exclude ?? [], anno_src: f.anno_src ?? 'any' },
      })
    case 'sampling':
      return api.POST('/api/v1/projects/{project_id}/datasets/sampling', {
        params: { path },
        body: { dataset_id: v.id, ...sample },
      })
    case 'label':
      return api.POST('/api/v1/datasets/{dataset_id}/label', {
        params: { path: { dataset_id: v.id } },
        body: {
          class_names: f.class_names ?? [],
          annotators: splitList(f.annotators),
          instruction: f.instruction ?? '',
          pre_annotations: f.pre_annotations ?? 'none',
        },
      })
    case 'evaluate':
      return api.POST('/api/v1/datasets/{dataset_id}/evaluate', {
        params: { path: { dataset_id: v.id } },
        body: { conf_thr: f.conf_thr ?? 0, iou_thr: f.iou_thr ?? 0.5 },
      })
    case 'export':
      return api.POST('/api/v1/datasets/{dataset_id}/export', {
        params: { path: { dataset_id: v.id } },
        body: { anno_format: f.anno_format ?? 'voc', gt: f.gt ?? true, pred: f.pred ?? false },
      })
  }
}

/**
 * The form of one action on a version (merge, filter, sampling, fuse, label, evaluate, export): the
 * fields it needs, defaults filled in; the started task's live state shows in place of the form.
 */
export function VersionActionModal({
  pid,
  action,
  version,
  options,
  onClose,
}: {
  pid: number
  action: FormAction
  version: Version
  /** the project's ready versions, as {value: id, label: "group vN"} */
  options: { value: number; label: string }[]
  onClose: () => void
}) {
  const { t } = useTranslation('dataset')
  const [form] = Form.useForm<Values>()
  const queryClient = useQueryClient()
  const project = useQuery(projectQuery(pid))
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [task, setTask] = useState<Schemas['TaskOut'] | null>(null)
  const classes = [
    ...new Set([...Object.keys(version.gt_stats), ...Object.keys(version.pred_stats), ...(project.data?.training_classes ?? [])]),
  ].map((c) => ({
    value: c,
    label: c,
  }))
  const others = options.filter((o) => o.value !== version.id)

  const submit = async (values: Values) => {
    setError(null)
    setBusy(true)
    try {
      setTask(await unwrap(start(pid, action, version, values)))
    } catch (e) {
      setError(e)
      showFieldErrors(form, e)
    } finally {
      setBusy(false)
      void queryClient.invalidateQueries({ queryKey: keys.datasets.all })
      void queryClient.invalidateQueries({ queryKey: keys.tasks.all })
    }
  }

  const sampleFields = (
    <Space>
      <Form.Item name="count" label={t('form.count')} extra={action === 'sampling' ? t('form.countOrRate') : undefined}>
        <InputNumber min={1} />
      </Form.Item>
      <Form.Item name="rate" label={t('form.rate')}>
        <InputNumber min={0} max={1} step={0.1} />
      </Form.Item>
      <Form.Item name="seed" label={t('form.seed')}>
        <InputNumber min={0} />
      </Form.Item>
    </Space>
  )
  const classFields = (
    <>
      <Form.Item name="include" label={t('form.include')} extra={t('form.includeHelp')}>
        <Select mode="tags" options={classes} />
      </Form.Item>
      <Form.Item name="exclude" label={t('form.exclude')}>
        <Select mode="tags" options={classes} />
      </Form.Item>
      <Form.Item name="anno_src" label={t('form.annoSrc')}>
        <Radio.Group options={(['any', 'gt', 'pred'] as const).map((s) => ({ value: s, label: t(`form.annoSrcs.${s}`) }))} />
      </Form.Item>
    </>
  )
  const mergeFields = (
    <>
      <Form.Item name="others" label={t('form.others')} extra={t('form.othersHelp')}
        rules={action === 'merge' ? [{ required: true, message: t('form.othersRequired') }] : []}>
        <Select mode="multiple" options={others} />
      </Form.Item>
      <Form.Item name="exclude_dataset_ids" label={t('form.excludeDatasets')} extra={t('form.excludeDatasetsHelp')}>
        <Select mode="multiple" options={others} />
      </Form.Item>
      <Form.Item name="strategy" label={t('form.strategy')}>
        <Radio.Group options={(['stop', 'host', 'guest'] as const).map((s) => ({ value: s, label: t(`form.strategies.${s}`) }))} />
      </Form.Item>
      <Form.Item name="group_name" label={t('form.groupName')} extra={t('form.groupNameHelp')}>
        <Input />
      </Form.Item>
    </>
  )

  return (
    <Modal
      open
      title={t(`form.title.${action}`, { name: options.find((o) => o.value === version.id)?.label ?? `#${version.id}` })}
      onCancel={onClose}
      onOk={() => (task ? onClose() : form.submit())}
      okText={task ? t('form.close') : t('form.start')}
      okButtonProps={{ loading: busy, ...testId('start-action') }}
      cancelButtonProps={{ style: task ? { display: 'none' } : undefined }}
      width={640}
      destroyOnHidden
    >
      <div data-testid={`action-${action}`}>
        <ErrorAlert error={error} />
        {task ? (
          <StartedTask task={task} next={`/projects/${pid}/datasets`} />
        ) : (
          <Form
            form={form}
            layout="vertical"
            name={action}
            onFinish={submit}
            initialValues={{
              strategy: 'stop',
              anno_src: 'any',
              seed: 0,
              conf_thr: 0,
              iou_thr: 0.5,
              pre_annotations: 'none',
              anno_format: 'voc',
              gt: true,
              pred: false,
              class_names: project.data?.training_classes ?? [],
            }}
          >
            {action === 'merge' && mergeFields}
            {action === 'fuse' && (
              <>
                {mergeFields}
                {classFields}
                {sampleFields}
              </>
            )}
            {action === 'filter' && classFields}
            {action === 'sampling' && sampleFields}
            {action === 'label' && (
              <>
                <Form.Item name="class_names" label={t('form.labelClasses')} extra={t('form.labelClassesHelp')}>
                  <Select mode="tags" options={(project.data?.training_classes ?? []).map((c) => ({ value: c, label: c }))} />
                </Form.Item>
                <Form.Item name="annotators" label={t('form.annotators')} extra={t('form.annotatorsHelp')}>
                  <Input placeholder="ann@example.com, bob@example.com" />
                </Form.Item>
                <Form.Item name="pre_annotations" label={t('form.preAnnotations')}>
                  <Radio.Group options={(['none', 'pred', 'gt'] as const).map((s) => ({ value: s, label: t(`form.preAnnotationsOf.${s}`) }))} />
                </Form.Item>
                <Form.Item name="instruction" label={t('form.instruction')}>
                  <Input.TextArea rows={2} />
                </Form.Item>
              </>
            )}
            {action === 'evaluate' && (
              <Space>
                <Form.Item name="conf_thr" label={t('form.confThr')}>
                  <InputNumber min={0} max={0.99} step={0.05} />
                </Form.Item>
                <Form.Item name="iou_thr" label={t('form.iouThr')}>
                  <InputNumber min={0.05} max={0.95} step={0.05} />
                </Form.Item>
              </Space>
            )}
            {action === 'export' && (
              <>
                <Form.Item name="anno_format" label={t('form.annoFormat')}>
                  <Select options={(['voc', 'coco', 'yolo', 'ark', 'labelstudio'] as const).map((f) => ({ value: f, label: f }))} style={{ width: 200 }} />
                </Form.Item>
                <Space>
                  <Form.Item name="gt" valuePropName="checked">
                    <Checkbox>{t('form.exportGt')}</Checkbox>
                  </Form.Item>
                  <Form.Item name="pred" valuePropName="checked">
                    <Checkbox>{t('form.exportPred')}</Checkbox>
                  </Form.Item>
                </Space>
              </>
            )}
          </Form>
        )}
      </div>
    </Modal>
  )
}
