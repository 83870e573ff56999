import { App, Button, Card, Dropdown, Empty, Space, Table, Typography } from 'antd'
import { useMemo, useState } from 'react'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { datasetGroupsQuery, datasetsQuery, keys, tasksQuery } from '../../api/queries'
import { errorMessage } from '../../api/errors'
import { ErrorAlert } from '../../components/ErrorAlert'
import { TaskState } from '../../components/TaskState'
import { LabelingProgress } from '../../components/LabelingProgress'
import { useLiveTask } from '../../api/live'
import { actionsFor, type FormAction } from './actions'
import { VersionActionModal } from './VersionActions'
import { rowData } from '../../components/rows'

type Version = Schemas['DatasetVersionOut']

export default function Datasets() {
  const { t } = useTranslation('dataset')
  const pid = Number(useParams().pid)
  const groups = useQuery(datasetGroupsQuery(pid))
  const versions = useQuery(datasetsQuery(pid))
  const tasks = useQuery(tasksQuery({ project_id: pid }))
  const byGroup = new Map<number, Version[]>()
  for (const v of versions.data?.items ?? []) byGroup.set(v.group_id, [...(byGroup.get(v.group_id) ?? []), v])
  const history = useMemo<History>(() => {
    const groupNames = new Map((groups.data ?? []).map((g) => [g.id, g.name]))
    const names = new Map(
      (versions.data?.items ?? []).map((v) => [v.id, `${groupNames.get(v.group_id) ?? v.group_id} v${v.version_num}`]),
    )
    const byId = new Map((tasks.data?.items ?? []).map((task) => [task.id, task]))
    const kinds = new Map([...byId].map(([id, task]) => [id, task.kind]))
    const options = (versions.data?.items ?? [])
      .filter((v) => v.state === 'ready')
      .map((v) => ({ value: v.id, label: names.get(v.id) ?? `#${v.id}` }))
    return { names, kinds, tasks: byId, options }
  }, [groups.data, versions.data, tasks.data])

  return (
    <>
      <Space style={{ width: '100%', justifyContent: 'space-between', marginBottom: 16 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {t('title')}
        </Typography.Title>
        <Link to={`/projects/${pid}/datasets/import`}>
          <Button type="primary" data-testid="import">
            {t('import')}
          </Button>
        </Link>
      </Space>
      <ErrorAlert error={groups.error ?? versions.error} />
      {groups.data?.length === 0 && (
        <Empty description={t('empty')}>
          <Link to={`/projects/${pid}/datasets/import`}>{t('import')}</Link>
        </Empty>
      )}
      {(groups.data ?? []).map((g) => (
        <Card key={g.id} title={g.name} size="small" style={{ marginBottom: 16 }} data-testid="dataset-group">
          <VersionTable pid={pid} name={g.name} versions={byGroup.get(g.id) ?? []} history={history} />
        </Card>
      ))}
    </>
  )
}

interface History {
  /** version id → "group vN" */
  names: Map<number, string>
  /** task id → its kind (import, merge, label…) */
  kinds: Map<string, string>
  /** the project's tasks by id (a failed version shows its task's error; a labeling one its progress) */
  tasks: Map<string, Schemas['TaskOut']>
  options: { value: number; label: string }[]
}

function VersionTable({ pid, name, versions, history }: { pid: number; name: string; versions: Version[]; history: History }) {
  const { t } = useTranslation('dataset')
  const [open, setOpen] = useState<{ action: FormAction; v: Version } | null>(null)
  const navigate = useNavigate()
  const { message } = App.useApp()
  const queryClient = useQueryClient()
  const act = useMutation({
    mutationFn: async ({ action, v }: { action: string; v: Version }) => {
      const path = { dataset_id: v.id }
      switch (action) {
        case 'public':
          return unwrap(api.PATCH('/api/v1/datasets/{dataset_id}', { params: { path }, body: { is_public: !v.is_public } }))
        case 'hide':
          return unwrap(api.DELETE('/api/v1/datasets/{dataset_id}', { params: { path } }))
        case 'cancel':
          return unwrap(api.POST('/api/v1/tasks/{task_id}/cancel', { params: { path: { task_id: v.task_id ?? '' } } }))
        case 'retry':
          return unwrap(api.POST('/api/v1/tasks/{task_id}/retry', { params: { path: { task_id: v.task_id ?? '' } } }))
      }
    },
    onSuccess: () => void message.success(t('done')),
    onError: (e) => void message.error(errorMessage(e, t)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.datasets.all }),
  })
  const go = (key: string, v: Version) => {
    const { forms, pages } = actionsFor(v)
    if ((pages as string[]).includes(key)) navigate(`/projects/${pid}/${key}?dataset=${v.id}`)
    else if ((forms as string[]).includes(key)) setOpen({ action: key as FormAction, v })
    else act.mutate({ action: key, v })
  }
  return (
    <>
    {open && (
      <VersionActionModal pid={pid} action={open.action} version={open.v} options={history.options} onClose={() => setOpen(null)} />
    )}
    <Table<Version>
      rowKey="id"
      onRow={(v) => rowData({ 'data-version': `${name} v${v.version_num}` })}
      size="small"
      pagination={false}
      dataSource={versions}
      columns={[
        {
          title: t('version'),
          key: 'v',
          render: (_, v) =>
            v.state === 'ready' ? (
              <Link to={`/projects/${pid}/datasets/${v.id}`} data-testid="version-link">{`${name} v${v.version_num}`}</Link>
            ) : (
              `${name} v${v.version_num}`
            ),
        },
        {
          title: t('state'),
          key: 'state',
          render: (_, v) => (
            <>
              <TaskState state={v.state} taskId={v.task_id} />
              {v.task_id && v.state !== 'ready' && <VersionTask taskId={v.task_id} task={history.tasks.get(v.task_id)} />}
            </>
          ),
        },
        { title: t('assets'), dataIndex: 'asset_count' },
        { title: t('gtBoxes'), dataIndex: 'gt_boxes' },
        { title: t('predBoxes'), dataIndex: 'pred_boxes' },
        {
          title: t('task'),
          key: 'task',
          render: (_, v) => (
            <span data-testid="version-task">
              {v.task_id ? t(`kinds.${history.kinds.get(v.task_id) ?? 'unknown'}`, { defaultValue: history.kinds.get(v.task_id) ?? '—' }) : '—'}
            </span>
          ),
        },
        {
          title: t('sources'),
          dataIndex: 'source_ids',
          render: (ids: number[]) => (
            <span data-testid="version-sources">{ids.map((i) => history.names.get(i) ?? `#${i}`).join(', ') || '—'}</span>
          ),
        },
        {
          title: '',
          key: 'actions',
          render: (_, v) => {
            const ready = v.state === 'ready'
            const running = v.state === 'pending' || v.state === 'running'
            const { forms, pages } = actionsFor(v)
            const items = [
              ...[...pages, ...forms].map((key) => ({ key, label: t(`actions.${key}`) })),
              ...(ready ? [{ key: 'public', label: v.is_public ? t('actions.private') : t('actions.public') }] : []),
              ...(running ? [{ key: 'cancel', label: t('actions.cancel') }] : []),
              ...(v.state === 'failed' ? [{ key: 'retry', label: t('actions.retry') }] : []),
              { key: 'hide', label: t('actions.hide'), danger: true },
            ]
            return (
              <Dropdown menu={{ items, onClick: (e) => go(e.key, v) }} trigger={['click']}>
                <Button size="small" data-testid="version-actions">{t('actions.more')}</Button>
              </Dropdown>
            )
          },
        },
      ]}
    />
    </>
  )
}

/** Under a version still being made, its labeling progress; under a failed one, what failed and the fix. */
function VersionTask({ taskId, task }: { taskId: string; task?: Schemas['TaskOut'] }) {
  const live = useLiveTask(taskId) ?? task
  const error = (live?.state === 'failed' ? live.error : null) as { message?: string; fix?: string } | null
  if (error) {
    return (
      <Typography.Paragraph type="danger" data-testid="version-error" style={{ margin: 0, maxWidth: 360 }}>
        {[error.message, error.fix].filter(Boolean).join(' — ')}
      </Typography.Paragraph>
    )
  }
  return <LabelingProgress taskId={taskId} task={task} />
}
