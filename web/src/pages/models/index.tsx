import { useState } from 'react'
import { Button, Empty, Space, Table, Tag } from 'antd'
import { useQuery } from '@tanstack/react-query'
import { Link, useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import type { Schemas } from '../../api/client'
import { modelGroupsQuery, modelsQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { TaskState } from '../../components/TaskState'
import { DownloadModel, ImportModel } from './ModelPackage'
import { PageHeader } from '../../components/PageHeader'

type Model = Schemas['ModelVersionOut']

export default function Models() {
  const { t } = useTranslation('model')
  const pid = Number(useParams().pid)
  const models = useQuery(modelsQuery(pid))
  const groups = useQuery(modelGroupsQuery(pid))
  const groupNames = new Map((groups.data ?? []).map((g) => [g.id, g.name]))
  const [importing, setImporting] = useState(false)
  return (
    <>
      <PageHeader title={t('title')}>
        <Space>
          <Button onClick={() => setImporting(true)} data-testid="import-model">{t('importModel')}</Button>
          <Link to={`/projects/${pid}/train`}>
            <Button type="primary">{t('train')}</Button>
          </Link>
        </Space>
      </PageHeader>
      {importing && <ImportModel pid={pid} onClose={() => setImporting(false)} />}
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
          { title: t('group'), key: 'group', render: (_, m) => <span data-testid="model-group">{groupNames.get(m.group_id) ?? m.group_id}</span> },
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
                  <DownloadModel modelId={m.id} />
                </Space>
              ),
          },
        ]}
      />
    </>
  )
}
