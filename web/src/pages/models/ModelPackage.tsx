import { useEffect, useState } from 'react'
import { App, Button, Form, Input, Modal, Progress, Upload } from 'antd'
import type { UploadFile } from 'antd'
import { useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { api, fetchWithProgress, unwrap, type Schemas } from '../../api/client'
import { saveTaskOutput } from '../../api/download'
import { errorMessage } from '../../api/errors'
import { useLiveTask } from '../../api/live'
import { keys } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { StartedTask } from '../../components/StartedTask'
import { testId } from '../../components/rows'

/**
 * Download a model's package: the server packs it (a model-export task, progress pushed live), then
 * the browser saves the .tar.gz.
 */
export function DownloadModel({ modelId }: { modelId: number }) {
  const { t } = useTranslation('model')
  const { message } = App.useApp()
  const [taskId, setTaskId] = useState<string | null>(null)
  const live = useLiveTask(taskId)
  useEffect(() => {
    if (!taskId || !live) return
    if (live.state === 'done') {
      setTaskId(null)
      saveTaskOutput(taskId).catch((e: unknown) => void message.error(errorMessage(e, t)))
    } else if (live.state === 'failed' || live.state === 'cancelled') {
      setTaskId(null)
      const error = live.error as { message?: string } | null
      void message.error(error?.message ?? live.state)
    }
  }, [taskId, live, message, t])
  const start = async () => {
    try {
      const task = await unwrap(api.POST('/api/v1/models/{model_id}/export', { params: { path: { model_id: modelId } } }))
      setTaskId(task.id)
    } catch (e) {
      void message.error(errorMessage(e, t))
    }
  }
  return (
    <Button size="small" loading={taskId !== null} onClick={() => void start()} data-testid="download-model">
      {taskId ? t('packing') : t('download')}
    </Button>
  )
}

/** Import a model package (.tar.gz, ours or YMIR's) into the project, with an upload progress bar. */
export function ImportModel({ pid, onClose }: { pid: number; onClose: () => void }) {
  const { t } = useTranslation('model')
  const [form] = Form.useForm<{ group_name: string; file?: unknown }>()
  const [files, setFiles] = useState<UploadFile[]>([])
  const [progress, setProgress] = useState<number | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [task, setTask] = useState<Schemas['TaskOut'] | null>(null)
  const queryClient = useQueryClient()
  const submit = async ({ group_name }: { group_name: string }) => {
    const file = files[0]?.originFileObj
    if (!file) {
      form.setFields([{ name: 'file', errors: [t('packageRequired')] }])
      return
    }
    setError(null)
    setProgress(0)
    try {
      setTask(
        await unwrap(
          api.POST('/api/v1/projects/{project_id}/models/upload', {
            params: { path: { project_id: pid } },
            body: { group_name, file: file as unknown as string },
            bodySerializer: () => {
              const fd = new FormData()
              fd.append('group_name', group_name)
              fd.append('file', file)
              return fd
            },
            fetch: fetchWithProgress(setProgress),
          }),
        ),
      )
    } catch (e) {
      setError(e)
    } finally {
      setProgress(null)
      void queryClient.invalidateQueries({ queryKey: keys.models.all })
    }
  }
  return (
    <Modal
      open
      title={t('importTitle')}
      onCancel={onClose}
      onOk={() => (task ? onClose() : form.submit())}
      okText={task ? t('close') : t('importStart')}
      okButtonProps={{ loading: progress !== null, ...testId('start-model-import') }}
      destroyOnHidden
    >
      <ErrorAlert error={error} />
      {task ? (
        <StartedTask task={task} next={`/projects/${pid}/models`} />
      ) : (
        <Form form={form} layout="vertical" name="model_import" onFinish={(v) => void submit({ group_name: v.group_name })} initialValues={{ group_name: 'imported' }}>
          <Form.Item name="group_name" label={t('groupName')} rules={[{ required: true, message: t('required') }]}>
            <Input />
          </Form.Item>
          <Form.Item name="file" label={t('package')} extra={t('packageHelp')}>
            <Upload accept=".tar.gz,.tgz,application/gzip" maxCount={1} beforeUpload={() => false} fileList={files}
              onChange={({ fileList }) => setFiles(fileList)}>
              <Button data-testid="choose-package">{t('choosePackage')}</Button>
            </Upload>
          </Form.Item>
          {progress !== null && <Progress percent={Math.round(progress * 100)} />}
        </Form>
      )}
    </Modal>
  )
}
