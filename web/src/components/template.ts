// The executor image's template as an editable form: defaults shown, values typed like the default.
export type TemplateValue = string | number | boolean

export interface TemplateRow {
  key: string
  value: string
  default: TemplateValue | undefined
}

export function rowsOf(template: Record<string, unknown> | undefined): TemplateRow[] {
  return Object.entries(template ?? {}).map(([key, v]) => ({ key, value: String(v), default: v as TemplateValue }))
}

/**
 * The config to send: the rows whose value differs from the template's default (and added keys),
 * parsed to the default's type. Errors name the key and say what it must be.
 */
export function configOf(rows: TemplateRow[]): { config: Record<string, TemplateValue>; errors: Record<string, string> } {
  const config: Record<string, TemplateValue> = {}
  const errors: Record<string, string> = {}
  for (const r of rows) {
    const key = r.key.trim()
    if (!key) continue
    const text = r.value.trim()
    let value: TemplateValue
    if (typeof r.default === 'number') {
      const n = Number(text)
      if (text === '' || !Number.isFinite(n)) {
        errors[key] = 'number'
        continue
      }
      value = n
    } else if (typeof r.default === 'boolean') {
      if (text !== 'true' && text !== 'false') {
        errors[key] = 'boolean'
        continue
      }
      value = text === 'true'
    } else if (r.default === undefined) {
      const n = Number(text)
      value = text === 'true' ? true : text === 'false' ? false : text !== '' && Number.isFinite(n) ? n : text
    } else {
      value = text
    }
    if (r.default === undefined || value !== r.default) config[key] = value
  }
  return { config, errors }
}
