import { memo } from 'react'
import { AssetImage } from '../../components/Asset/AssetImage'
import { preloadImage } from '../../components/Asset/media'
import type { Asset } from './paging'

export const CELL = 180
export const SIDE = CELL - 4

/**
 * One grid cell: the thumbnail and the mining score of mined assets (its row draws the boxes; the
 * cell's ``data-count`` says how many are its). Memoized on the asset object (pages are cached, so it
 * stays the same object): scrolling renders only the cells that appear. Without ``load`` (a row
 * scrolled past fast) it is an empty tile: no image is requested. Pressing it starts loading the full
 * image the click opens.
 */
export const Thumb = memo(function Thumb(props: {
  datasetId: number
  asset: Asset | undefined
  index: number
  mediaToken: string | undefined
  load: boolean
  onOpen: (index: number) => void
}) {
  const { datasetId, asset, index, mediaToken, load, onOpen } = props
  const score = asset?.tags.mining_score
  return (
    <div
      style={{ width: SIDE, height: SIDE, position: 'relative', cursor: 'pointer', background: '#f0f2f5', flex: 'none' }}
      onClick={() => asset && onOpen(index)}
      onPointerDown={() => asset && mediaToken && preloadImage(datasetId, asset.asset_id, mediaToken)}
      data-testid="thumb"
      data-asset={asset?.asset_id}
      data-index={index}
      data-count={asset ? asset.gt.length + asset.pred.length : undefined}
    >
      {asset && load && (
        <>
          <AssetImage
            datasetId={datasetId}
            assetId={asset.asset_id}
            size={256}
            token={mediaToken}
            cancelable
            style={{ position: 'absolute', left: 0, top: 0, width: SIDE, height: SIDE, objectFit: 'contain' }}
          />
          {score !== undefined && (
            <span
              data-testid="mining-score"
              style={{
                position: 'absolute',
                right: 2,
                bottom: 2,
                background: 'rgba(0,0,0,0.65)',
                color: '#fff',
                fontSize: 11,
                padding: '0 4px',
                borderRadius: 3,
              }}
            >
              {score}
            </span>
          )}
        </>
      )}
    </div>
  )
})
