import type { CSSProperties } from 'react'
import { AuthedImage } from './AuthedImage'
import { mediaUrl } from './media'

/**
 * An asset's image or thumbnail. With the version's media token (from its asset pages) it is a plain
 * <img src>: the browser loads many in parallel, decodes them off the main thread and caches them;
 * without one it is fetched with the bearer token (AuthedImage).
 */
export function AssetImage(props: {
  datasetId: number
  assetId: string
  size: number | null
  token: string | undefined
  style?: CSSProperties
  alt?: string
  testId?: string
}) {
  const { datasetId, assetId, size, token } = props
  if (!token) return <AuthedImage datasetId={datasetId} assetId={assetId} size={size} style={props.style} alt={props.alt} />
  return (
    <img
      src={mediaUrl(datasetId, assetId, size, token)}
      alt={props.alt ?? assetId}
      style={props.style}
      draggable={false}
      decoding="async"
      data-testid={props.testId ?? 'asset-image'}
    />
  )
}
