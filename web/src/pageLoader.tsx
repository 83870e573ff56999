import { useEffect, useState, type ComponentType, type ReactElement } from 'react'
import { Spin } from 'antd'

export type Page<P extends object = object> = ((props: P) => ReactElement) & {
  /** Fetch the page's chunk ahead of its first render (once; again after a failure). */
  preload: () => Promise<ComponentType<P>>
}

/**
 * A page whose code is its own chunk, like ``React.lazy`` but without Suspense. React 19 holds a
 * Suspense boundary's content back until 300 ms after its fallback was shown (its fallback throttle):
 * a page's first render — and the queries it starts — waited that long even when its chunk arrived at
 * once. This shows a spinner until the chunk is loaded, then the page; a page already loaded (by
 * ``preload``) renders at once.
 */
export function page<P extends object>(load: () => Promise<{ default: ComponentType<P> }>): Page<P> {
  let loaded: ComponentType<P> | undefined
  let pending: Promise<ComponentType<P>> | undefined
  const preload = () =>
    (pending ??= load().then(
      (m) => (loaded = m.default),
      (e: unknown) => {
        pending = undefined
        throw e
      },
    ))
  function Lazy(props: P) {
    const [Loaded, setLoaded] = useState<{ C?: ComponentType<P>; error?: unknown }>(() => ({ C: loaded }))
    useEffect(() => {
      if (Loaded.C) return
      let live = true
      preload().then(
        (C) => live && setLoaded({ C }),
        (error: unknown) => live && setLoaded({ error: error ?? new Error('failed to load the page') }),
      )
      return () => {
        live = false
      }
    }, [Loaded.C])
    if (Loaded.error !== undefined) throw Loaded.error // to the nearest error boundary, as React.lazy does
    return Loaded.C ? <Loaded.C {...props} /> : <Spin style={{ margin: 48 }} data-testid="page-loading" />
  }
  return Object.assign(Lazy, { preload })
}

/** Run ``f`` when the browser is idle (soon after, where it has no requestIdleCallback). */
export function whenIdle(f: () => void): void {
  if (typeof window.requestIdleCallback === 'function') window.requestIdleCallback(f, { timeout: 2000 })
  else setTimeout(f, 200)
}
