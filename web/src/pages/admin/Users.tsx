import { App, Button, Select, Space, Table, Typography } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { errorMessage } from '../../api/errors'
import { keys, usersQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { rowData } from '../../components/rows'

type User = Schemas['UserOut']
type Role = 'user' | 'admin' | 'super_admin'
type State = 'pending' | 'active' | 'declined' | 'deactivated'

/** Users (super admin): roles, approval of sign-ups, deactivation, password-reset tokens. */
export default function Users() {
  const { t } = useTranslation('admin')
  const users = useQuery(usersQuery)
  const { message, modal } = App.useApp()
  const queryClient = useQueryClient()
  const update = useMutation({
    mutationFn: ({ id, role, state }: { id: number; role?: Role; state?: State }) =>
      unwrap(api.PATCH('/api/v1/users/{user_id}', { params: { path: { user_id: id } }, body: { role, state } })),
    onError: (e) => void message.error(errorMessage(e, t)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.users }),
  })
  const reset = useMutation({
    mutationFn: (id: number) => unwrap(api.POST('/api/v1/users/{user_id}/reset', { params: { path: { user_id: id } } })),
    onSuccess: (r) => void modal.info({ title: t('resetToken'), content: <Typography.Paragraph copyable data-testid="reset-token">{r.reset_token}</Typography.Paragraph> }),
    onError: (e) => void message.error(errorMessage(e, t)),
  })
  return (
    <>
      <Typography.Title level={3}>{t('usersTitle')}</Typography.Title>
      <ErrorAlert error={users.error} />
      <Table<User>
        rowKey="id"
        onRow={(u) => rowData({ 'data-user': u.email })}
        pagination={false}
        dataSource={users.data?.items ?? []}
        columns={[
          { title: t('email'), dataIndex: 'email' },
          { title: t('username'), dataIndex: 'username' },
          {
            title: t('role'),
            key: 'role',
            render: (_, u) => (
              <Select<Role> size="small" value={u.role as Role} style={{ width: 140 }} onChange={(role) => update.mutate({ id: u.id, role })}
                options={(['user', 'admin', 'super_admin'] as const).map((r) => ({ value: r, label: t(`roles.${r}`) }))} />
            ),
          },
          { title: t('state'), dataIndex: 'state', render: (s: string) => t(`states.${s}`, { defaultValue: s }) },
          {
            title: '',
            key: 'actions',
            render: (_, u) => (
              <Space>
                {u.state === 'pending' && <Button size="small" type="primary" onClick={() => update.mutate({ id: u.id, state: 'active' })}>{t('approve')}</Button>}
                {u.state === 'active' ? (
                  <Button size="small" onClick={() => update.mutate({ id: u.id, state: 'deactivated' })}>{t('deactivate')}</Button>
                ) : (
                  u.state !== 'pending' && <Button size="small" onClick={() => update.mutate({ id: u.id, state: 'active' })}>{t('activate')}</Button>
                )}
                <Button size="small" onClick={() => reset.mutate(u.id)}>{t('reset')}</Button>
              </Space>
            ),
          },
        ]}
      />
    </>
  )
}
