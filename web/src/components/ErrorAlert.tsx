import { Alert } from 'antd'
import { useTranslation } from 'react-i18next'
import { errorMessage } from '../api/errors'

/** The API's error, in the user's language, where the page can show it. */
export function ErrorAlert({ error, testId = 'error' }: { error: unknown; testId?: string }) {
  const { t } = useTranslation()
  if (!error) return null
  return <Alert type="error" showIcon title={errorMessage(error, t)} data-testid={testId} style={{ marginBottom: 16 }} />
}
