import { Button, Dropdown, Layout, Menu, Space, Typography } from 'antd'
import { Outlet, useLocation, useMatch, useNavigate } from 'react-router'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { api } from '../api/client'
import { getTokens, setTokens } from '../api/auth'
import { LiveTasksProvider } from '../api/live'
import { meQuery, projectQuery } from '../api/queries'
import { access } from '../access'
import { LanguageSwitch } from '../components/LanguageSwitch'

export default function MainLayout() {
  const { t } = useTranslation('menu')
  const navigate = useNavigate()
  const location = useLocation()
  const queryClient = useQueryClient()
  const me = useQuery(meQuery)
  const can = access(me.data)
  const inProject = useMatch('/projects/:pid/*')
  const pid = inProject?.params.pid ? Number(inProject.params.pid) : null
  const project = useQuery({ ...projectQuery(pid ?? 0), enabled: pid !== null })

  const items = [
    { key: '/', label: t('projects') },
    ...(pid !== null
      ? [
          {
            key: 'project',
            type: 'group' as const,
            label: project.data?.name ?? '…',
            children: [
              { key: `/projects/${pid}/datasets`, label: t('datasets') },
              { key: `/projects/${pid}/models`, label: t('models') },
              { key: `/projects/${pid}/iterations`, label: t('iterations') },
              { key: `/projects/${pid}/train`, label: t('train') },
              { key: `/projects/${pid}/tasks`, label: t('projectTasks') },
            ],
          },
        ]
      : []),
    { key: '/labels', label: t('labels') },
    { key: '/tasks', label: t('tasks') },
    ...(can.canAdmin ? [{ key: '/admin/images', label: t('images') }] : []),
    ...(can.canManageUsers ? [{ key: '/admin/users', label: t('users') }] : []),
  ]
  const selected = items
    .flatMap((i) => ('children' in i && i.children ? i.children : [i]))
    .map((i) => i.key)
    .filter((k) => k === location.pathname || (k !== '/' && location.pathname.startsWith(k)))

  const signOut = async () => {
    const tokens = getTokens()
    if (tokens) await api.POST('/api/v1/auth/logout', {}).catch(() => undefined)
    setTokens(null)
    queryClient.clear()
    navigate('/signin')
  }

  return (
    <LiveTasksProvider>
      <Layout style={{ minHeight: '100vh' }}>
        <Layout.Sider width={210} theme="light" breakpoint="lg" collapsedWidth={0}>
          <div style={{ padding: '16px 24px', fontWeight: 700, fontSize: 20 }}>YMIR</div>
          <Menu mode="inline" items={items} selectedKeys={selected} onClick={(e) => navigate(e.key)} data-testid="menu" />
        </Layout.Sider>
        <Layout>
          <Layout.Header
            style={{ background: '#fff', display: 'flex', justifyContent: 'flex-end', alignItems: 'center', gap: 16 }}
          >
            <LanguageSwitch />
            <Dropdown
              menu={{ items: [{ key: 'profile', label: t('profile'), onClick: () => navigate('/profile') }, { key: 'out', label: t('signOut'), onClick: () => void signOut() }] }}
              trigger={['click']}
            >
              <Button type="text" data-testid="user-menu">
                <Space>
                  <Typography.Text>{me.data?.username ?? ''}</Typography.Text>
                </Space>
              </Button>
            </Dropdown>
          </Layout.Header>
          <Layout.Content style={{ padding: 24 }}>
            <Outlet />
          </Layout.Content>
        </Layout>
      </Layout>
    </LiveTasksProvider>
  )
}
