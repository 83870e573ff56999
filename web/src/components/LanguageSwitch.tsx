import { Segmented } from 'antd'
import { useTranslation } from 'react-i18next'
import { LANGUAGES, setLanguage } from '../i18n'
import type { Language } from '../i18n/resources'

export function LanguageSwitch() {
  const { i18n } = useTranslation()
  return (
    <Segmented
      data-testid="language"
      size="small"
      value={i18n.language}
      options={LANGUAGES.map((l) => ({ value: l.code, label: l.name }))}
      onChange={(v) => setLanguage(v as Language)}
    />
  )
}
