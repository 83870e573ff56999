import type { FormInstance } from 'antd'
import { ApiError } from '../api/errors'

/** Lights up the form fields a 422 names (each field's own message under it). */
export function showFieldErrors(form: FormInstance, err: unknown): void {
  if (!(err instanceof ApiError)) return
  const known = new Set(Object.keys(form.getFieldsValue(true) as object))
  const fields = Object.entries(err.fields)
    .filter(([name]) => known.has(name))
    .map(([name, msg]) => ({ name, errors: [msg] }))
  if (fields.length) form.setFields(fields)
}

/** "a, b ,c" → ["a", "b", "c"] */
export function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[,，\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
}
