import type { CSSProperties } from 'react'
import { AuthedImage } from './AuthedImage'
import { cancelOnRemove, mediaUrl } from './media'

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
  onLoad?: () => void
  /** stop loading when the image leaves the page (grid thumbnails scrolled away) */
  cancelable?: boolean
}) {
  const { datasetId, assetId, size, token } = props
  if (!token) return <AuthedImage datasetId={datasetId} assetId={assetId} size={size} style={props.style} alt={props.alt} />
  return (
    <img
      ref={props.cancelable ? cancelOnRemove : undefined}
      src={mediaUrl(datasetId, assetId, size, token)}
      alt={props.alt ?? assetId}
      style={props.style}
      draggable={false}
      decoding="async"
      onLoad={props.onLoad}
      data-testid={props.testId ?? 'asset-image'}
    />
  )
}
