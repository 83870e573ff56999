import { useState } from 'react'
import { App, Button, Form, Input, Modal, Space, Switch, Table, Tag } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { errorMessage } from '../../api/errors'
import { imagesQuery, keys } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors } from '../../components/forms'
import { rowData } from '../../components/rows'
import { PageHeader } from '../../components/PageHeader'

type Image = Schemas['ImageOut']

/** Executor images (admins): register with templates, public or private; remove. */
export default function Images() {
  const { t } = useTranslation('admin')
  const images = useQuery(imagesQuery)
  const [editing, setEditing] = useState<Image | 'new' | null>(null)
  const { message } = App.useApp()
  const queryClient = useQueryClient()
  const remove = useMutation({
    mutationFn: (id: number) => unwrap(api.DELETE('/api/v1/images/{image_id}', { params: { path: { image_id: id } } })),
    onError: (e) => void message.error(errorMessage(e, t)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.images }),
  })
  return (
    <>
      <PageHeader title={t('imagesTitle')}>
        <Button type="primary" onClick={() => setEditing('new')} data-testid="new-image">{t('register')}</Button>
      </PageHeader>
      <ErrorAlert error={images.error} />
      <Table<Image>
        rowKey="id"
        onRow={(i) => rowData({ 'data-image': i.name })}
        pagination={false}
        dataSource={images.data ?? []}
        expandable={{ expandedRowRender: (i) => <pre style={{ fontSize: 12, maxHeight: 300, overflow: 'auto' }}>{JSON.stringify(i.templates, null, 1)}</pre> }}
        columns={[
          { title: t('name'), dataIndex: 'name' },
          { title: t('description'), dataIndex: 'description' },
          { title: t('capabilities'), dataIndex: 'capabilities', render: (cs: string[]) => cs.map((c) => <Tag key={c}>{c}</Tag>) },
          { title: t('public'), dataIndex: 'is_public', render: (v: boolean) => (v ? t('yes') : t('no')) },
          {
            title: '',
            key: 'actions',
            render: (_, i) => (
              <Space>
                <Button size="small" onClick={() => setEditing(i)} data-testid="edit-image">{t('edit')}</Button>
                <Button size="small" danger onClick={() => remove.mutate(i.id)} data-testid="remove-image">{t('remove')}</Button>
              </Space>
            ),
          },
        ]}
      />
      {editing && <ImageForm image={editing === 'new' ? null : editing} onClose={() => setEditing(null)} />}
    </>
  )
}

interface Values {
  name: string
  description?: string
  templates: string
  is_public: boolean
}

/** Register an image, or edit one (its name stays: tasks and copies refer to it). */
function ImageForm({ image, onClose }: { image: Image | null; onClose: () => void }) {
  const { t } = useTranslation('admin')
  const [form] = Form.useForm<Values>()
  const queryClient = useQueryClient()
  const save = useMutation({
    mutationFn: (v: Values) => {
      let templates: Record<string, Record<string, unknown>>
      try {
        templates = JSON.parse(v.templates || '{}') as Record<string, Record<string, unknown>>
      } catch {
        form.setFields([{ name: 'templates', errors: [t('templatesJson')] }])
        return Promise.reject(new Error(t('templatesJson')))
      }
      const body = { description: v.description ?? '', templates, is_public: v.is_public }
      return image
        ? unwrap(api.PATCH('/api/v1/images/{image_id}', { params: { path: { image_id: image.id } }, body }))
        : unwrap(api.POST('/api/v1/images', { body: { ...body, name: v.name } }))
    },
    onSuccess: onClose,
    onError: (e) => showFieldErrors(form, e),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.images }),
  })
  return (
    <Modal open title={image ? t('editTitle', { name: image.name }) : t('register')} onCancel={onClose} onOk={() => form.submit()}
      confirmLoading={save.isPending} okButtonProps={{ id: 'save-image' }}>
      <ErrorAlert error={save.error} />
      <Form form={form} layout="vertical" name="image" onFinish={(v) => save.mutate(v)} initialValues={
        image
          ? { name: image.name, description: image.description, templates: JSON.stringify(image.templates, null, 1), is_public: image.is_public }
          : { is_public: true, templates: '{"training": {}, "mining": {}, "infer": {}}' }
      }>
        <Form.Item name="name" label={t('name')} rules={[{ required: true, message: t('required') }]}><Input placeholder="registry/executor:tag" disabled={!!image} /></Form.Item>
        <Form.Item name="description" label={t('description')}><Input /></Form.Item>
        <Form.Item name="templates" label={t('templates')} extra={t('templatesHelp')}><Input.TextArea rows={5} /></Form.Item>
        <Form.Item name="is_public" label={t('public')} valuePropName="checked"><Switch /></Form.Item>
      </Form>
    </Modal>
  )
}
