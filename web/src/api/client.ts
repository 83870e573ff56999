// The typed API client, generated from the backend's OpenAPI (src/api/schema.d.ts, by ./ymir.sh).
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'
import { getTokens } from './auth'
import { ApiError, type ErrorBody } from './errors'

export type Schemas = components['schemas']

let onUnauthorized: () => void = () => {}

/** What to do when the API answers 401 (the app leads to sign-in and back). */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler
}

const auth: Middleware = {
  onRequest({ request }) {
    const tokens = getTokens()
    if (tokens && !request.headers.has('Authorization')) {
      request.headers.set('Authorization', `Bearer ${tokens.access_token}`)
    }
    return request
  },
  onResponse({ response, request }) {
    if (response.status === 401 && !new URL(request.url).pathname.startsWith('/api/v1/auth/')) {
      onUnauthorized()
    }
    return response
  },
}

export const api = createClient<paths>({ baseUrl: '/' })
api.use(auth)

/** The data of a call, or an ApiError carrying the API's {detail, code}. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result
  try {
    result = await call
  } catch (e) {
    throw new ApiError(0, { detail: e instanceof Error ? e.message : String(e), code: 'network_error' })
  }
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(result.response.status, result.error as ErrorBody)
  }
  return result.data as T
}

/**
 * A fetch that reports upload progress (fetch cannot): openapi-fetch builds the typed request,
 * this sends it with XMLHttpRequest.
 */
export function fetchWithProgress(onProgress: (fraction: number) => void): (req: Request) => Promise<Response> {
  return async (req: Request) => {
    const body = await req.blob()
    return new Promise<Response>((resolve, reject) => {
      const xhr = new XMLHttpRequest()
      xhr.open(req.method, req.url)
      req.headers.forEach((value, key) => xhr.setRequestHeader(key, value))
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total)
      }
      xhr.onload = () =>
        resolve(
          new Response(xhr.responseText, {
            status: xhr.status,
            headers: { 'Content-Type': xhr.getResponseHeader('Content-Type') ?? 'application/json' },
          }),
        )
      xhr.onerror = () => reject(new Error('the upload was interrupted'))
      xhr.send(body)
    })
  }
}
