// i18next with one namespace per feature (src/locales/{en,zh}/<ns>.json), English and 简体中文.
import i18n from 'i18next'
import { initReactI18next } from 'react-i18next'
import { resources, LANGUAGES, type Language } from './resources'

const STORE = 'ymir.lang'

export function initialLanguage(): Language {
  const saved = localStorage.getItem(STORE)
  if (saved === 'en' || saved === 'zh') return saved
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en'
}

void i18n.use(initReactI18next).init({
  resources,
  lng: initialLanguage(),
  fallbackLng: 'en',
  ns: Object.keys(resources.en),
  defaultNS: 'common',
  interpolation: { escapeValue: false },
})

export function setLanguage(lang: Language): void {
  localStorage.setItem(STORE, lang)
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
  void i18n.changeLanguage(lang)
}

export { LANGUAGES }
export default i18n
