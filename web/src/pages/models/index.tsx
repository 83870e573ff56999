import { App, Button, Empty, Space, Table, Tag, Typography } from 'antd'
import { useMutation, useQuery } from '@tanstack/react-query'
import { Link, useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { errorMessage } from '../../api/errors'
import { modelsQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { TaskState } from '../../components/TaskState'

type Model = Schemas['ModelVersionOut']

export default function Models() {
  const { t } = useTranslation('model')
  const pid = Number(useParams().pid)
  const models = useQuery(modelsQuery(pid))
  const { message } = App.useApp()
  const exportModel = useMutation({
    mutationFn: (id: number) => unwrap(api.POST('/api/v1/models/{model_id}/export', { params: { path: { model_id: id } } })),
    onSuccess: () => void message.success(t('exportStarted')),
    onError: (e) => void message.error(errorMessage(e, t)),
  })
  return (
    <>
      <Space style={{ width: '100%', justifyContent: 'space-between', marginBottom: 16 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {t('title')}
        </Typography.Title>
        <Link to={`/projects/${pid}/train`}>
          <Button type="primary">{t('train')}</Button>
        </Link>
      </Space>
      <ErrorAlert error={models.error} />
      <Table<Model>
        rowKey="id"
        loading={models.isPending}
        dataSource={models.data?.items ?? []}
        pagination={false}
        locale={{ emptyText: <Empty description={t('empty')} /> }}
        columns={[
          {
            title: t('model'),
            key: 'name',
            render: (_, m) =>
              m.state === 'ready' ? <Link to={`/projects/${pid}/models/${m.id}`} data-testid="model-link">{`#${m.id} v${m.version_num}`}</Link> : `#${m.id} v${m.version_num}`,
          },
          { title: t('state'), key: 'state', render: (_, m) => <TaskState state={m.state} taskId={m.task_id} /> },
          { title: 'mAP', dataIndex: 'map50_95', render: (v: number | null) => (v === null ? '—' : v.toFixed(3)) },
          { title: 'mAP50', dataIndex: 'map50', render: (v: number | null) => (v === null ? '—' : v.toFixed(3)) },
          { title: t('bestStage'), dataIndex: 'best_stage' },
          { title: t('classes'), dataIndex: 'class_names', render: (cs: string[]) => cs.map((c) => <Tag key={c}>{c}</Tag>) },
          {
            title: '',
            key: 'actions',
            render: (_, m) =>
              m.state === 'ready' && (
                <Space>
                  <Link to={`/projects/${pid}/mine?model=${m.id}`}>{t('mine')}</Link>
                  <Link to={`/projects/${pid}/infer?model=${m.id}`}>{t('infer')}</Link>
                  <Button size="small" onClick={() => exportModel.mutate(m.id)}>
                    {t('export')}
                  </Button>
                </Space>
              ),
          },
        ]}
      />
    </>
  )
}
