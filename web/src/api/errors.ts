// One error path: every failed API call becomes an ApiError with the API's {detail, code},
// a message in the user's language, and the form fields a 422 names.

export interface ErrorBody {
  detail?: unknown
  code?: string
  /** A 422's problems, each with the place in the request it names (`['body', 'target_map']`). */
  errors?: { loc?: unknown[]; msg?: string }[]
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly detail: string
  readonly fields: Record<string, string>
  /** each problem with its place in the request (`['body', 'labels', 3, 'name']`) */
  readonly problems: { loc: unknown[]; msg: string }[]

  constructor(status: number, body: ErrorBody | undefined) {
    const detail = detailText(body?.detail) || `HTTP ${status}`
    super(detail)
    this.status = status
    this.code = body?.code ?? (status === 0 ? 'network_error' : 'http_error')
    this.detail = detail
    this.fields = status === 422 ? fieldErrors(body) : {}
    this.problems = (body?.errors ?? []).map((p) => ({ loc: p.loc ?? [], msg: p.msg ?? '' }))
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

const WHERE = new Set(['body', 'query', 'path', 'header', 'cookie'])

/**
 * The form fields a 422 names, from each problem's `loc` (`['body', 'training_classes', 0]` →
 * `training_classes`): the API's `errors` list, or FastAPI's own list in `detail`. Query and path
 * parameters name their field the same way; a problem with no field (a whole-body check) names none.
 */
export function fieldErrors(body: ErrorBody | undefined): Record<string, string> {
  const problems = body?.errors ?? (Array.isArray(body?.detail) ? (body.detail as ErrorBody['errors']) : undefined)
  const out: Record<string, string> = {}
  for (const p of problems ?? []) {
    const loc = p.loc ?? []
    // the first part says where (body, query, path, header); a field may well be named "path"
    const field = WHERE.has(String(loc[0])) ? loc[1] : loc[0]
    if (typeof field !== 'string' || !field) continue
    if (!(field in out)) out[field] = p.msg ?? ''
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
