import { Suspense, useEffect, type ReactNode } from 'react'
import { App as AntApp, ConfigProvider, Result, Spin } from 'antd'
import enUS from 'antd/locale/en_US'
import zhCN from 'antd/locale/zh_CN'
import { QueryClient, QueryClientProvider, useQuery } from '@tanstack/react-query'
import { BrowserRouter, matchPath, Navigate, Route, Routes, useLocation, useNavigate } from 'react-router'
import { useTranslation } from 'react-i18next'
import { setUnauthorizedHandler } from './api/client'
import { getTokens, setTokens } from './api/auth'
import { ApiError } from './api/errors'
import { datasetQuery, meQuery } from './api/queries'
import { access } from './access'
import MainLayout from './layouts/MainLayout'
import { page, whenIdle } from './pageLoader'
import { assetPageQuery, NO_FILTERS } from './pages/assets/paging'

const SignIn = page(() => import('./pages/auth/SignIn'))
const SignUp = page(() => import('./pages/auth/SignUp'))
const ResetPassword = page(() => import('./pages/auth/ResetPassword'))
const Home = page(() => import('./pages/home'))
const Labels = page(() => import('./pages/labels'))
const Assets = page(() => import('./pages/assets'))
// a version is opened from the datasets page: its browser's chunk is fetched while the user looks
const Datasets = page(async () => {
  const m = await import('./pages/datasets')
  whenIdle(() => void Assets.preload().catch(() => undefined))
  return m
})
const ImportWizard = page(() => import('./pages/datasets/ImportWizard'))
const Models = page(() => import('./pages/models'))
const ModelDetail = page(() => import('./pages/models/ModelDetail'))
const TrainForm = page(() => import('./pages/models/TrainForm'))
const ModelTaskForm = page(() => import('./pages/models/ModelTaskForm'))
const Iterations = page(() => import('./pages/iterations'))
const Tasks = page(() => import('./pages/tasks'))
const AdminImages = page(() => import('./pages/admin/Images'))
const AdminUsers = page(() => import('./pages/admin/Users'))
const Profile = page(() => import('./pages/profile'))

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (count, err) => !(err instanceof ApiError && err.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
})

/**
 * The asset browser opened by its address: its chunk, the version and its first page of assets are
 * requested now, while the app renders its first frame, rather than after the page's chunk arrived and
 * rendered (they were the last links of a chain that kept the first thumbnails ~0.5 s later).
 */
function warmStart(pathname: string): void {
  const did = Number(matchPath('/projects/:pid/datasets/:did', pathname)?.params.did)
  if (!Number.isInteger(did) || !getTokens()) return
  void Assets.preload().catch(() => undefined) // the page itself reports a failure
  void queryClient.prefetchQuery(datasetQuery(did))
  void queryClient.prefetchQuery(assetPageQuery(did, NO_FILTERS, 0))
}
warmStart(window.location.pathname)

/** A 401 anywhere: forget the tokens and go to sign-in, coming back here after. */
function UnauthorizedRedirect() {
  const navigate = useNavigate()
  const location = useLocation()
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setTokens(null)
      queryClient.clear()
      if (!location.pathname.startsWith('/signin')) {
        navigate(`/signin?next=${encodeURIComponent(location.pathname + location.search)}`, { replace: true })
      }
    })
  }, [navigate, location])
  return null
}

function RequireAuth({ children }: { children: ReactNode }) {
  const location = useLocation()
  if (!getTokens()) {
    return <Navigate to={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`} replace />
  }
  return <>{children}</>
}

/** A page only some roles may see: the others are told so (403), not shown an empty page. */
function Guard({ need, children }: { need: 'canAdmin' | 'canManageUsers'; children: ReactNode }) {
  const { t } = useTranslation('common')
  const me = useQuery(meQuery)
  if (me.isPending) return <Spin />
  if (!access(me.data)[need]) {
    return <Result status="403" title="403" subTitle={t('forbiddenPage')} data-testid="forbidden" />
  }
  return <>{children}</>
}

/** The language's antd locale, and the theme (its styles are antd/dist/antd.css, loaded by main.tsx). */
function Localized({ children }: { children: ReactNode }) {
  const { i18n } = useTranslation()
  return (
    <ConfigProvider locale={i18n.language === 'zh' ? zhCN : enUS} theme={{ token: { colorPrimary: '#1d6fdc' }, zeroRuntime: true }}>
      <AntApp>{children}</AntApp>
    </ConfigProvider>
  )
}

export default function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <Localized>
        <BrowserRouter>
          <UnauthorizedRedirect />
          <Suspense fallback={<Spin style={{ margin: 48 }} />}>
            <Routes>
              <Route path="/signin" element={<SignIn />} />
              <Route path="/signup" element={<SignUp />} />
              <Route path="/reset" element={<ResetPassword />} />
              <Route
                element={
                  <RequireAuth>
                    <MainLayout />
                  </RequireAuth>
                }
              >
                <Route index element={<Home />} />
                <Route path="labels" element={<Labels />} />
                <Route path="tasks" element={<Tasks />} />
                <Route path="profile" element={<Profile />} />
                <Route path="projects/:pid/datasets" element={<Datasets />} />
                <Route path="projects/:pid/datasets/import" element={<ImportWizard />} />
                <Route path="projects/:pid/datasets/:did" element={<Assets />} />
                <Route path="projects/:pid/models" element={<Models />} />
                <Route path="projects/:pid/models/:mid" element={<ModelDetail />} />
                <Route path="projects/:pid/train" element={<TrainForm />} />
                <Route path="projects/:pid/mine" element={<ModelTaskForm kind="mine" />} />
                <Route path="projects/:pid/infer" element={<ModelTaskForm kind="infer" />} />
                <Route path="projects/:pid/iterations" element={<Iterations />} />
                <Route path="projects/:pid/tasks" element={<Tasks />} />
                <Route path="admin/images" element={<Guard need="canAdmin"><AdminImages /></Guard>} />
                <Route path="admin/users" element={<Guard need="canManageUsers"><AdminUsers /></Guard>} />
                <Route path="*" element={<Result status="404" title="404" />} />
              </Route>
            </Routes>
          </Suspense>
        </BrowserRouter>
      </Localized>
    </QueryClientProvider>
  )
}
