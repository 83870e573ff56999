import { useState } from 'react'
import { App, Button, Empty, Form, Input, Modal, Space, Table, Tag, Typography } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { keys, labelsQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors, splitList } from '../../components/forms'

type Label = Schemas['LabelOut']

export default function Labels() {
  const { t } = useTranslation('label')
  const labels = useQuery(labelsQuery)
  const [editing, setEditing] = useState<Label | 'new' | null>(null)
  return (
    <>
      <Space style={{ width: '100%', justifyContent: 'space-between', marginBottom: 16 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>
          {t('title')}
        </Typography.Title>
        <Button type="primary" onClick={() => setEditing('new')} data-testid="new-label">
          {t('add')}
        </Button>
      </Space>
      <ErrorAlert error={labels.error} />
      <Table<Label>
        rowKey="id"
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
