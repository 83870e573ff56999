import { useState } from 'react'
import { Button, Form, Input, Result } from 'antd'
import { Link, useSearchParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap } from '../../api/client'
import { ErrorAlert } from '../../components/ErrorAlert'
import { showFieldErrors } from '../../components/forms'
import { AuthFrame } from './SignIn'

interface Values {
  reset_token: string
  new_password: string
}

/** A new password with the one-time token an administrator handed out (valid one hour). */
export default function ResetPassword() {
  const { t } = useTranslation('auth')
  const [params] = useSearchParams()
  const [form] = Form.useForm<Values>()
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState(false)
  const submit = async (v: Values) => {
    setError(null)
    try {
      await unwrap(api.POST('/api/v1/auth/password-reset', { body: v }))
      setDone(true)
    } catch (e) {
      setError(e)
      showFieldErrors(form, e)
    }
  }
  return (
    <AuthFrame title={t('resetTitle')}>
      {done ? (
        <Result status="success" title={t('resetDone')} extra={<Link to="/signin">{t('signIn')}</Link>} />
      ) : (
        <>
          <ErrorAlert error={error} />
          <Form form={form} layout="vertical" name="reset" onFinish={submit} initialValues={{ reset_token: params.get('token') ?? '' }}>
            <Form.Item name="reset_token" label={t('resetToken')} rules={[{ required: true, message: t('resetTokenRequired') }]}>
              <Input.TextArea rows={3} />
            </Form.Item>
            <Form.Item name="new_password" label={t('newPassword')} rules={[{ required: true, min: 8, message: t('passwordRule') }]}>
              <Input.Password autoComplete="new-password" />
            </Form.Item>
            <Button type="primary" htmlType="submit" block>
              {t('resetSubmit')}
            </Button>
          </Form>
        </>
      )}
    </AuthFrame>
  )
}
