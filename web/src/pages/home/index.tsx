import { useState } from 'react'
import { App, Button, Empty, Form, Input, InputNumber, Modal, Select, Space, Table, Tag } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { keys, labelsQuery, projectStatsQuery, projectsQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors } from '../../components/forms'
import { rowData } from '../../components/rows'
import { PageHeader } from '../../components/PageHeader'

type Project = Schemas['ProjectOut']

interface Values {
  name: string
  description?: string
  training_classes: string[]
  target_map?: number | null
  target_iterations?: number | null
}

export default function Home() {
  const { t } = useTranslation('project')
  const projects = useQuery(projectsQuery)
  const statsList = useQuery(projectStatsQuery)
  const stats = new Map((statsList.data ?? []).map((s) => [s.project_id, s]))
  const [editing, setEditing] = useState<Project | 'new' | null>(null)

  return (
    <>
      <PageHeader title={t('title')}>
        <Button type="primary" onClick={() => setEditing('new')} data-testid="new-project">
          {t('create')}
        </Button>
      </PageHeader>
      <ErrorAlert error={projects.error} />
      <Table<Project>
        rowKey="id"
        onRow={(p) => rowData({ 'data-project': p.name })}
        loading={projects.isPending}
        dataSource={projects.data?.items ?? []}
        pagination={false}
        locale={{ emptyText: <Empty description={t('empty')} /> }}
        columns={[
          {
            title: t('name'),
            dataIndex: 'name',
            render: (name: string, p) => <Link to={`/projects/${p.id}/datasets`}>{name}</Link>,
          },
          {
            title: t('classes'),
            dataIndex: 'training_classes',
            render: (cs: string[]) => cs.map((c) => <Tag key={c}>{c}</Tag>),
          },
          {
            title: t('round'),
            key: 'round',
            render: (_, p) => {
              const s = stats.get(p.id)
              if (!s?.round) return <span data-testid="project-round">{t('noRound')}</span>
              return (
                <span data-testid="project-round">
                  {t('roundOf', { round: s.round, target: p.target_iterations ?? '—' })}
                  {s.step && <Tag style={{ marginLeft: 8 }}>{t(`iteration:steps.${s.step}`)}</Tag>}
                </span>
              )
            },
          },
          {
            title: t('map'),
            key: 'map',
            render: (_, p) => {
              const s = stats.get(p.id)
              const map = s?.map50_95
              const reached = map != null && p.target_map != null && map >= p.target_map
              return (
                <span data-testid="project-map">
                  {map == null ? '—' : map.toFixed(3)} / {p.target_map ?? '—'}
                  {reached && <Tag color="green" style={{ marginLeft: 8 }}>{t('targetReached')}</Tag>}
                </span>
              )
            },
          },
          {
            title: t('contents'),
            key: 'contents',
            render: (_, p) => {
              const s = stats.get(p.id)
              return <span data-testid="project-contents">{t('contentsOf', { datasets: s?.datasets ?? 0, models: s?.models ?? 0 })}</span>
            },
          },
          { title: t('description'), dataIndex: 'description', ellipsis: true },
          {
            title: '',
            key: 'actions',
            render: (_, p) => (
              <Space>
                <Link to={`/projects/${p.id}/iterations`}>{t('iterations')}</Link>
                <Button size="small" onClick={() => setEditing(p)}>
                  {t('edit')}
                </Button>
              </Space>
            ),
          },
        ]}
      />
      {editing && <ProjectForm project={editing === 'new' ? null : editing} onClose={() => setEditing(null)} />}
    </>
  )
}

function ProjectForm({ project, onClose }: { project: Project | null; onClose: () => void }) {
  const { t } = useTranslation('project')
  const { message } = App.useApp()
  const [form] = Form.useForm<Values>()
  const labels = useQuery(labelsQuery)
  const queryClient = useQueryClient()
  const save = useMutation({
    mutationFn: (values: Values) => {
      const body = { ...values, description: values.description ?? '' }
      return project
        ? unwrap(api.PATCH('/api/v1/projects/{project_id}', { params: { path: { project_id: project.id } }, body }))
        : unwrap(api.POST('/api/v1/projects', { body }))
    },
    onSuccess: () => {
      void message.success(t('saved'))
      onClose()
    },
    onError: (e) => showFieldErrors(form, e),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.projects.all }),
  })
  return (
    <Modal
      open
      title={project ? t('editTitle') : t('create')}
      onCancel={onClose}
      onOk={() => form.submit()}
      okText={t('save')}
      confirmLoading={save.isPending}
      okButtonProps={{ id: 'save-project' }}
    >
      <ErrorAlert error={save.error} />
      <Form
        form={form}
        layout="vertical"
        name="project"
        initialValues={
          project ?? { training_classes: [], name: '', description: '', target_map: null, target_iterations: null }
        }
        onFinish={(v) => save.mutate(v)}
      >
        <Form.Item name="name" label={t('name')} rules={[{ required: true, message: t('nameRequired') }]}>
          <Input />
        </Form.Item>
        <Form.Item name="training_classes" label={t('classes')} extra={t('classesHelp')}>
          <Select mode="tags" options={(labels.data ?? []).map((l) => ({ value: l.name, label: l.name }))} />
        </Form.Item>
        <Space>
          <Form.Item name="target_map" label={t('targetMap')}>
            <InputNumber step={0.05} />
          </Form.Item>
          <Form.Item name="target_iterations" label={t('targetRounds')}>
            <InputNumber />
          </Form.Item>
        </Space>
        <Form.Item name="description" label={t('description')}>
          <Input.TextArea rows={2} />
        </Form.Item>
      </Form>
    </Modal>
  )
}
