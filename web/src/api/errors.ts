// One error path: every failed API call becomes an ApiError with the API's {detail, code},
// a message in the user's language, and the form fields a 422 names.

export interface ErrorBody {
  detail?: unknown
  code?: string
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly detail: string
  readonly fields: Record<string, string>

  constructor(status: number, body: ErrorBody | undefined) {
    const detail = detailText(body?.detail) || `HTTP ${status}`
    super(detail)
    this.status = status
    this.code = body?.code ?? (status === 0 ? 'network_error' : 'http_error')
    this.detail = detail
    this.fields = status === 422 ? fieldErrors(detail) : {}
  }
}

/** The API's detail as text: a string, or FastAPI's list of {loc, msg}. */
export function detailText(detail: unknown): string {
  if (typeof detail === 'string') return detail
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const e = d as { loc?: unknown[]; msg?: string }
        const loc = (e.loc ?? []).filter((p) => p !== 'body').join('.')
        return loc ? `${loc}: ${e.msg ?? ''}` : (e.msg ?? '')
      })
      .join('; ')
  }
  return ''
}

/**
 * The fields a 422 names. The API writes each problem as `loc: message` joined by `; `
 * (`training_classes.0: Value error, ...; target_map: Input should be ...`): the first part of
 * each loc is the form field.
 */
export function fieldErrors(detail: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of detail.split('; ')) {
    const m = /^([A-Za-z_][\w.]*): (.+)$/s.exec(part)
    if (!m || !m[1] || !m[2]) continue
    const field = m[1].split('.')[0] ?? m[1]
    if (!(field in out)) out[field] = m[2]
  }
  return out
}

type Translate = (key: string, options?: Record<string, unknown>) => string

/**
 * The message shown to the user: a translation of the code when there is one (errors namespace),
 * else the API's own detail (it names the field and the fix).
 */
export function errorMessage(err: unknown, t: Translate): string {
  if (err instanceof ApiError) {
    const key = `errors:${err.code}`
    const translated = t(key, { detail: err.detail, defaultValue: '' })
    if (translated) return translated
    return err.detail
  }
  if (err instanceof Error) return err.message
  return String(err)
}
