import { App, Button, Empty, Space, Table, Typography } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { errorMessage } from '../../api/errors'
import { keys, tasksQuery } from '../../api/queries'
import { useLiveTask } from '../../api/live'
import { useTaskDownload } from '../../api/download'
import { ErrorAlert } from '../../components/ErrorAlert'
import { TaskState } from '../../components/TaskState'
import { LabelingProgress } from '../../components/LabelingProgress'

type Task = Schemas['TaskOut']

/** All your tasks (or a project's): state and live progress pushed by the server, cancel, retry, download. */
export default function Tasks() {
  const { t } = useTranslation('task')
  const pid = useParams().pid
  const filters = pid ? { project_id: Number(pid) } : {}
  const tasks = useQuery(tasksQuery(filters))
  const { message } = App.useApp()
  const queryClient = useQueryClient()
  const act = useMutation({
    mutationFn: ({ id, action }: { id: string; action: 'cancel' | 'retry' }) =>
      action === 'cancel'
        ? unwrap(api.POST('/api/v1/tasks/{task_id}/cancel', { params: { path: { task_id: id } } }))
        : unwrap(api.POST('/api/v1/tasks/{task_id}/retry', { params: { path: { task_id: id } } })),
    onError: (e) => void message.error(errorMessage(e, t)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.tasks.all }),
  })
  const download = useTaskDownload()
  return (
    <>
      <Typography.Title level={3}>{t('title')}</Typography.Title>
      <ErrorAlert error={tasks.error} />
      <Table<Task>
        rowKey="id"
        size="small"
        loading={tasks.isPending}
        dataSource={tasks.data?.items ?? []}
        locale={{ emptyText: <Empty description={t('empty')} /> }}
        pagination={false}
        expandable={{ expandedRowRender: (task) => <TaskDetail task={task} /> }}
        columns={[
          { title: t('kind'), dataIndex: 'kind' },
          { title: t('state'), key: 'state', render: (_, task) => <LiveState task={task} /> },
          { title: t('created'), dataIndex: 'created_at', render: (v: string) => new Date(v).toLocaleString() },
          { title: 'ID', dataIndex: 'id', render: (v: string) => <Typography.Text code>{v.slice(0, 10)}</Typography.Text> },
          {
            title: '',
            key: 'actions',
            render: (_, task) => (
              <Space>
                {(task.state === 'queued' || task.state === 'running') && (
                  <Button size="small" onClick={() => act.mutate({ id: task.id, action: 'cancel' })}>{t('cancel')}</Button>
                )}
                {(task.state === 'failed' || task.state === 'cancelled') && (
                  <Button size="small" onClick={() => act.mutate({ id: task.id, action: 'retry' })}>{t('retry')}</Button>
                )}
                {task.state === 'done' && (task.result as { output?: string } | null)?.output && (
                  <Button size="small" onClick={() => download(task.id)} data-testid="download">{t('download')}</Button>
                )}
              </Space>
            ),
          },
        ]}
      />
    </>
  )
}

function LiveState({ task }: { task: Task }) {
  const live = useLiveTask(task.id)
  return (
    <>
      <TaskState state={live?.state ?? task.state} taskId={task.id} />
      <LabelingProgress taskId={task.id} task={task} />
    </>
  )
}

function TaskDetail({ task }: { task: Task }) {
  const { t } = useTranslation('task')
  const live = useLiveTask(task.id) ?? task
  const error = live.error as { message?: string; fix?: string } | null
  return (
    <div>
      {live.stage && <div>{t('stage')}: {live.stage} {live.message}</div>}
      {error && <Typography.Text type="danger">{[error.message, error.fix].filter(Boolean).join(' — ')}</Typography.Text>}
      <pre style={{ maxHeight: 200, overflow: 'auto', fontSize: 12 }}>{JSON.stringify(task.request, null, 1)}</pre>
    </div>
  )
}
