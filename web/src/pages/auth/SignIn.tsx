import { useState } from 'react'
import { Button, Card, Form, Input, Typography } from 'antd'
import { Link, useNavigate, useSearchParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap } from '../../api/client'
import { setTokens } from '../../api/auth'
import { ErrorAlert } from '../../components/ErrorAlert'
import { LanguageSwitch } from '../../components/LanguageSwitch'
import { showFieldErrors } from '../../components/forms'

interface Values {
  email: string
  password: string
}

export default function SignIn() {
  const { t } = useTranslation('auth')
  const [form] = Form.useForm<Values>()
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const navigate = useNavigate()
  const [params] = useSearchParams()

  const submit = async (values: Values) => {
    setBusy(true)
    setError(null)
    try {
      const tokens = await unwrap(api.POST('/api/v1/auth/login', { body: values }))
      setTokens(tokens)
      const next = params.get('next')
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true })
    } catch (e) {
      setError(e)
      showFieldErrors(form, e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <AuthFrame title={t('signInTitle')}>
      <ErrorAlert error={error} />
      <Form form={form} layout="vertical" onFinish={submit} name="signin">
        <Form.Item name="email" label={t('email')} rules={[{ required: true, type: 'email', message: t('emailRequired') }]}>
          <Input autoComplete="username" />
        </Form.Item>
        <Form.Item name="password" label={t('password')} rules={[{ required: true, message: t('passwordRequired') }]}>
          <Input.Password autoComplete="current-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" block loading={busy}>
          {t('signIn')}
        </Button>
      </Form>
      <Typography.Paragraph style={{ marginTop: 16 }}>
        {t('noAccount')} <Link to="/signup">{t('signUp')}</Link>
      </Typography.Paragraph>
      <Typography.Paragraph type="secondary">
        <Link to="/reset">{t('forgot')}</Link>
      </Typography.Paragraph>
    </AuthFrame>
  )
}

export function AuthFrame({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <div style={{ minHeight: '100vh', display: 'grid', placeItems: 'center', background: '#f3f5f8' }}>
      <Card title={title} extra={<LanguageSwitch />} style={{ width: 400 }}>
        {children}
      </Card>
    </div>
  )
}
