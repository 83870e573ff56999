import { useState } from 'react'
import { App, Button, Card, Form, Input, Space, Table, Typography } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { errorMessage } from '../../api/errors'
import { meQuery } from '../../api/queries'
import { setTokens } from '../../api/auth'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors } from '../../components/forms'
import { rowData } from '../../components/rows'

/** Your account: password change and personal API tokens (shown once, at creation). */
export default function Profile() {
  const { t } = useTranslation('auth')
  const me = useQuery(meQuery)
  const { message } = App.useApp()
  const [form] = Form.useForm<{ old_password: string; new_password: string }>()
  const change = useMutation({
    // the change ends every session, this one too: sign in again with the new password at once
    mutationFn: async (body: { old_password: string; new_password: string }) => {
      await unwrap(api.POST('/api/v1/auth/password', { body }))
      const email = me.data?.email ?? ''
      setTokens(await unwrap(api.POST('/api/v1/auth/login', { body: { email, password: body.new_password } })))
    },
    onSuccess: () => {
      void message.success(t('passwordChanged'))
      form.resetFields()
    },
    onError: (e) => showFieldErrors(form, e),
  })
  return (
    <Space orientation="vertical" style={{ width: '100%', maxWidth: 720 }}>
      <Typography.Title level={3}>{me.data?.email}</Typography.Title>
      <Card title={t('changePassword')} size="small">
        <ErrorAlert error={change.error} />
        <Form form={form} layout="vertical" name="password" onFinish={(v) => change.mutate(v)}>
          <Form.Item name="old_password" label={t('oldPassword')} rules={[{ required: true, message: t('passwordRequired') }]}>
            <Input.Password autoComplete="current-password" />
          </Form.Item>
          <Form.Item name="new_password" label={t('newPassword')} rules={[{ required: true, min: 8, message: t('passwordRule') }]}>
            <Input.Password autoComplete="new-password" />
          </Form.Item>
          <Button type="primary" htmlType="submit" loading={change.isPending}>{t('changePassword')}</Button>
        </Form>
      </Card>
      <Tokens onError={(e) => void message.error(errorMessage(e, t))} />
    </Space>
  )
}

function Tokens({ onError }: { onError: (e: unknown) => void }) {
  const { t } = useTranslation('auth')
  const queryClient = useQueryClient()
  const key = ['me', 'tokens']
  const tokens = useQuery({ queryKey: key, queryFn: () => unwrap(api.GET('/api/v1/users/me/tokens')) })
  const [name, setName] = useState('')
  const [created, setCreated] = useState<string | null>(null)
  const create = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/users/me/tokens', { body: { name } })),
    onSuccess: (tok) => setCreated(tok.token ?? null),
    onError,
    onSettled: () => queryClient.invalidateQueries({ queryKey: key }),
  })
  const revoke = useMutation({
    mutationFn: (id: number) => unwrap(api.DELETE('/api/v1/users/me/tokens/{token_id}', { params: { path: { token_id: id } } })),
    onError,
    onSettled: () => queryClient.invalidateQueries({ queryKey: key }),
  })
  return (
    <Card title={t('apiTokens')} size="small">
      <Space style={{ marginBottom: 8 }}>
        <Input placeholder={t('tokenName')} value={name} onChange={(e) => setName(e.target.value)} data-testid="token-name" />
        <Button onClick={() => create.mutate()} disabled={!name.trim()} data-testid="create-token">{t('createToken')}</Button>
      </Space>
      {created && <Typography.Paragraph copyable={{ text: created }} type="success">
          {t('tokenOnce')} <Typography.Text code data-testid="new-token">{created}</Typography.Text>
        </Typography.Paragraph>}
      <Table<Schemas['ApiTokenOut']>
        rowKey="id"
        size="small"
        pagination={false}
        dataSource={tokens.data ?? []}
        onRow={(tok) => rowData({ 'data-token': tok.name })}
        columns={[
          { title: t('tokenName'), dataIndex: 'name' },
          { title: t('lastUsed'), dataIndex: 'last_used_at', render: (v: string | null) => (v ? new Date(v).toLocaleString() : '—') },
          { title: '', key: 'x', render: (_, tok) => <Button size="small" danger onClick={() => revoke.mutate(tok.id)} data-testid="revoke-token">{t('revoke')}</Button> },
        ]}
      />
    </Card>
  )
}
