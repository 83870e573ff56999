/**
 * The URL of an asset's image (``size`` null) or thumbnail, signed by the version's media token: no
 * Authorization header, so an <img src> loads it and the browser caches it (a version never changes).
 */
export function mediaUrl(datasetId: number, assetId: string, size: number | null, token: string): string {
  const q = new URLSearchParams({ t: token })
  if (size !== null) q.set('size', String(size))
  return `/api/v1/datasets/${datasetId}/media/${assetId}?${q.toString()}`
}

const pressed: HTMLImageElement[] = []

/**
 * Start loading an asset's image now: on a pointer press, so that it is on its way before the click
 * renders the viewer, whose <img> of the same URL takes over the request (the browser's memory cache).
 */
export function preloadImage(datasetId: number, assetId: string, token: string): void {
  const img = new Image()
  img.src = mediaUrl(datasetId, assetId, null, token)
  pressed.splice(0, pressed.length, img) // held until the next press: its request is not dropped with it
}

/** An <img> leaving the page stops loading (one removed from the page keeps its request otherwise). */
export function cancelOnRemove(img: HTMLImageElement | null): (() => void) | undefined {
  if (!img) return undefined
  return () => {
    if (!img.complete) img.removeAttribute('src')
  }
}

/** Scrolling faster than this many pixels a millisecond (~11 rows of thumbnails a second) is flying past. */
export const FAST_SCROLL = 2

/** Whether moving ``dy`` pixels in ``dt`` milliseconds is a fast scroll (a fling, a dragged scrollbar). */
export function isFastScroll(dy: number, dt: number): boolean {
  return Math.abs(dy) > FAST_SCROLL * Math.max(dt, 1)
}
