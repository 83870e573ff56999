import { App, Button, Card, Dropdown, Empty, Space, Table, Typography } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate, useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { datasetGroupsQuery, datasetsQuery, keys } from '../../api/queries'
import { errorMessage } from '../../api/errors'
import { ErrorAlert } from '../../components/ErrorAlert'
import { TaskState } from '../../components/TaskState'

type Version = Schemas['DatasetVersionOut']

export default function Datasets() {
  const { t } = useTranslation('dataset')
  const pid = Number(useParams().pid)
  const groups = useQuery(datasetGroupsQuery(pid))
  const versions = useQuery(datasetsQuery(pid))
  const byGroup = new Map<number, Version[]>()
  for (const v of versions.data?.items ?? []) byGroup.set(v.group_id, [...(byGroup.get(v.group_id) ?? []), v])

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
          <VersionTable pid={pid} name={g.name} versions={byGroup.get(g.id) ?? []} />
        </Card>
      ))}
    </>
  )
}

function VersionTable({ pid, name, versions }: { pid: number; name: string; versions: Version[] }) {
  const { t } = useTranslation('dataset')
  const navigate = useNavigate()
  const { message } = App.useApp()
  const queryClient = useQueryClient()
  const act = useMutation({
    mutationFn: async ({ action, v }: { action: string; v: Version }) => {
      const path = { dataset_id: v.id }
      switch (action) {
        case 'export':
          return unwrap(api.POST('/api/v1/datasets/{dataset_id}/export', { params: { path }, body: {} }))
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
    if (key === 'train') navigate(`/projects/${pid}/train?dataset=${v.id}`)
    else if (key === 'mine') navigate(`/projects/${pid}/mine?dataset=${v.id}`)
    else if (key === 'infer') navigate(`/projects/${pid}/infer?dataset=${v.id}`)
    else act.mutate({ action: key, v })
  }
  return (
    <Table<Version>
      rowKey="id"
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
        { title: t('state'), key: 'state', render: (_, v) => <TaskState state={v.state} taskId={v.task_id} /> },
        { title: t('assets'), dataIndex: 'asset_count' },
        { title: t('gtBoxes'), dataIndex: 'gt_boxes' },
        { title: t('predBoxes'), dataIndex: 'pred_boxes' },
        { title: t('sources'), dataIndex: 'source_ids', render: (ids: number[]) => ids.join(', ') || '—' },
        {
          title: '',
          key: 'actions',
          render: (_, v) => {
            const ready = v.state === 'ready'
            const running = v.state === 'pending' || v.state === 'running'
            const items = [
              ...(ready
                ? [
                    { key: 'train', label: t('actions.train') },
                    { key: 'mine', label: t('actions.mine') },
                    { key: 'infer', label: t('actions.infer') },
                    { key: 'export', label: t('actions.export') },
                    { key: 'public', label: v.is_public ? t('actions.private') : t('actions.public') },
                  ]
                : []),
              ...(running ? [{ key: 'cancel', label: t('actions.cancel') }] : []),
              ...(v.state === 'failed' ? [{ key: 'retry', label: t('actions.retry') }] : []),
              { key: 'hide', label: t('actions.hide'), danger: true },
            ]
            return (
              <Dropdown menu={{ items, onClick: (e) => go(e.key, v) }} trigger={['click']}>
                <Button size="small">{t('actions.more')}</Button>
              </Dropdown>
            )
          },
        },
      ]}
    />
  )
}
