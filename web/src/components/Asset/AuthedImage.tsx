import { useEffect, useState, type CSSProperties } from 'react'
import { api } from '../../api/client'

// Images need the bearer token (an <img src> cannot send it): they are fetched through the typed
// client and shown from object URLs, the last CACHE_SIZE kept so scrolling back costs nothing.
const CACHE_SIZE = 600
const cache = new Map<string, string>()
const inflight = new Map<string, Promise<string>>()

function remember(key: string, url: string) {
  cache.set(key, url)
  if (cache.size > CACHE_SIZE) {
    const oldest = cache.keys().next().value
    if (oldest !== undefined) {
      URL.revokeObjectURL(cache.get(oldest) ?? '')
      cache.delete(oldest)
    }
  }
}

export function loadAssetImage(datasetId: number, assetId: string, size: number | null): Promise<string> {
  const key = `${datasetId}/${assetId}/${size ?? 'full'}`
  const hit = cache.get(key)
  if (hit) return Promise.resolve(hit)
  const running = inflight.get(key)
  if (running) return running
  const path = { dataset_id: datasetId, asset_id: assetId }
  const call =
    size === null
      ? api.GET('/api/v1/datasets/{dataset_id}/assets/{asset_id}/image', { params: { path }, parseAs: 'blob' })
      : api.GET('/api/v1/datasets/{dataset_id}/assets/{asset_id}/thumbnail', {
          params: { path, query: { size } },
          parseAs: 'blob',
        })
  const p = call
    .then(({ data, response }) => {
      if (!response.ok || !data) throw new Error(`image ${assetId}: HTTP ${response.status}`)
      const url = URL.createObjectURL(data as Blob)
      remember(key, url)
      return url
    })
    .finally(() => inflight.delete(key))
  inflight.set(key, p)
  return p
}

export function AuthedImage(props: { datasetId: number; assetId: string; size: number | null; style?: CSSProperties; alt?: string }) {
  const { datasetId, assetId, size } = props
  const [url, setUrl] = useState<string | null>(() => cache.get(`${datasetId}/${assetId}/${size ?? 'full'}`) ?? null)
  useEffect(() => {
    let live = true
    loadAssetImage(datasetId, assetId, size).then(
      (u) => live && setUrl(u),
      () => live && setUrl(null),
    )
    return () => {
      live = false
    }
  }, [datasetId, assetId, size])
  return url ? (
    <img src={url} alt={props.alt ?? assetId} style={props.style} draggable={false} data-testid="asset-image" />
  ) : (
    <div style={{ ...props.style, background: '#eef1f5' }} />
  )
}
