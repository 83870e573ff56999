import { useState } from 'react'
import { Alert, App, Button, Empty, Form, Input, Modal, Space, Table, Tag, Typography } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { keys, labelsQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { ApiError, errorMessage } from '../../api/errors'
import { parseBulkLabels } from './bulk'
import { showFieldErrors, splitList } from '../../components/forms'
import { rowData } from '../../components/rows'
import { PageHeader } from '../../components/PageHeader'

type Label = Schemas['LabelOut']

export default function Labels() {
  const { t } = useTranslation('label')
  const labels = useQuery(labelsQuery)
  const [editing, setEditing] = useState<Label | 'new' | null>(null)
  const [bulk, setBulk] = useState(false)
  return (
    <>
      <PageHeader title={t('title')}>
        <Space>
          <Button onClick={() => setBulk(true)} data-testid="bulk-labels">
            {t('bulkAdd')}
          </Button>
          <Button type="primary" onClick={() => setEditing('new')} data-testid="new-label">
            {t('add')}
          </Button>
        </Space>
      </PageHeader>
      <ErrorAlert error={labels.error} />
      <Table<Label>
        rowKey="id"
        onRow={(l) => rowData({ 'data-label': l.name })}
        loading={labels.isPending}
        dataSource={labels.data ?? []}
        pagination={false}
        locale={{ emptyText: <Empty description={t('empty')} /> }}
        columns={[
          { title: t('name'), dataIndex: 'name' },
          { title: t('aliases'), dataIndex: 'aliases', render: (as: string[]) => as.map((a) => <Tag key={a}>{a}</Tag>) },
          {
            title: '',
            key: 'edit',
            render: (_, l) => (
              <Button size="small" onClick={() => setEditing(l)}>
                {t('edit')}
              </Button>
            ),
          },
        ]}
      />
      {editing && <LabelForm label={editing === 'new' ? null : editing} onClose={() => setEditing(null)} />}
      {bulk && <BulkLabels onClose={() => setBulk(false)} />}
    </>
  )
}

interface Values {
  name: string
  aliases?: string
}

function LabelForm({ label, onClose }: { label: Label | null; onClose: () => void }) {
  const { t } = useTranslation('label')
  const { message } = App.useApp()
  const [form] = Form.useForm<Values>()
  const queryClient = useQueryClient()
  const save = useMutation({
    mutationFn: (v: Values) => {
      const body = { name: v.name, aliases: splitList(v.aliases) }
      return label
        ? unwrap(api.PATCH('/api/v1/labels/{label_id}', { params: { path: { label_id: label.id } }, body }))
        : unwrap(api.POST('/api/v1/labels', { body }))
    },
    onSuccess: () => {
      void message.success(t('saved'))
      onClose()
    },
    onError: (e) => showFieldErrors(form, e),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.labels }),
  })
  return (
    <Modal open title={label ? t('editTitle') : t('add')} onCancel={onClose} onOk={() => form.submit()}
      confirmLoading={save.isPending} okButtonProps={{ id: 'save-label' }}>
      <ErrorAlert error={save.error} />
      <Form form={form} layout="vertical" name="label" onFinish={(v) => save.mutate(v)}
        initialValues={label ? { name: label.name, aliases: label.aliases.join(', ') } : {}}>
        <Form.Item name="name" label={t('name')} rules={[{ required: true, message: t('nameRequired') }]}>
          <Input disabled={!!label} />
        </Form.Item>
        <Form.Item name="aliases" label={t('aliases')} extra={t('aliasesHelp')}>
          <Input />
        </Form.Item>
      </Form>
    </Modal>
  )
}

/** Many labels at once, one per line with its aliases after commas: all are added, or none. */
function BulkLabels({ onClose }: { onClose: () => void }) {
  const { t } = useTranslation('label')
  const { message } = App.useApp()
  const [text, setText] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const queryClient = useQueryClient()
  const save = useMutation({
    mutationFn: () => {
      const parsed = parseBulkLabels(text)
      if (!parsed.labels.length) return Promise.reject(new Error(t('bulkEmpty')))
      return unwrap(api.POST('/api/v1/labels/bulk', { body: { labels: parsed.labels } })).catch((e: unknown) => {
        // the API names the item (labels.3): say which line that is
        const item = e instanceof ApiError ? e.problems[0]?.loc[2] : undefined
        const line = typeof item === 'number' ? parsed.lines[item] : undefined
        throw line ? new Error(t('bulkLine', { line, problem: errorMessage(e, t) })) : e
      })
    },
    onSuccess: (added) => {
      void message.success(t('bulkAdded', { count: added.length }))
      onClose()
    },
    onError: (e) => setProblem(errorMessage(e, t)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.labels }),
  })
  return (
    <Modal open title={t('bulkAdd')} onCancel={onClose} onOk={() => save.mutate()} confirmLoading={save.isPending}
      okButtonProps={{ id: 'save-bulk' }}>
      {problem && <Alert type="error" showIcon title={problem} data-testid="error" style={{ marginBottom: 16 }} />}
      <Typography.Paragraph type="secondary">{t('bulkHelp')}</Typography.Paragraph>
      <Input.TextArea id="bulk_labels" rows={8} value={text} onChange={(e) => setText(e.target.value)}
        placeholder={'car, auto\nbus\ntruck, lorry'} />
    </Modal>
  )
}
