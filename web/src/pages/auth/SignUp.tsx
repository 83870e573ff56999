import { useState } from 'react'
import { Button, Form, Input, Result, Typography } from 'antd'
import { Link, useNavigate } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap } from '../../api/client'
import { setTokens } from '../../api/auth'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors } from '../../components/forms'
import { AuthFrame } from './SignIn'

interface Values {
  email: string
  username: string
  password: string
}

export default function SignUp() {
  const { t } = useTranslation('auth')
  const [form] = Form.useForm<Values>()
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const [busy, setBusy] = useState(false)
  const navigate = useNavigate()

  const submit = async (values: Values) => {
    setBusy(true)
    setError(null)
    try {
      const user = await unwrap(api.POST('/api/v1/auth/signup', { body: values }))
      if (user.state !== 'active') {
        setPending(true)
        return
      }
      setTokens(await unwrap(api.POST('/api/v1/auth/login', { body: { email: values.email, password: values.password } })))
      navigate('/', { replace: true })
    } catch (e) {
      setError(e)
      showFieldErrors(form, e)
    } finally {
      setBusy(false)
    }
  }

  if (pending) {
    return (
      <AuthFrame title={t('signUpTitle')}>
        <Result status="info" title={t('awaitingApproval')} extra={<Link to="/signin">{t('signIn')}</Link>} />
      </AuthFrame>
    )
  }
  return (
    <AuthFrame title={t('signUpTitle')}>
      <ErrorAlert error={error} />
      <Form form={form} layout="vertical" onFinish={submit} name="signup">
        <Form.Item name="email" label={t('email')} rules={[{ required: true, type: 'email', message: t('emailRequired') }]}>
          <Input autoComplete="username" />
        </Form.Item>
        <Form.Item name="username" label={t('username')} rules={[{ required: true, message: t('usernameRequired') }]}>
          <Input />
        </Form.Item>
        <Form.Item name="password" label={t('password')} rules={[{ required: true, min: 8, message: t('passwordRule') }]}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" block loading={busy}>
          {t('signUp')}
        </Button>
      </Form>
      <Typography.Paragraph style={{ marginTop: 16 }}>
        {t('haveAccount')} <Link to="/signin">{t('signIn')}</Link>
      </Typography.Paragraph>
    </AuthFrame>
  )
}
