/**
 * The URL of an asset's image (``size`` null) or thumbnail, signed by the version's media token: no
 * Authorization header, so an <img src> loads it and the browser caches it (a version never changes).
 */
export function mediaUrl(datasetId: number, assetId: string, size: number | null, token: string): string {
  const q = new URLSearchParams({ t: token })
  if (size !== null) q.set('size', String(size))
  return `/api/v1/datasets/${datasetId}/media/${assetId}?${q.toString()}`
}
