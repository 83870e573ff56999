import { memo } from 'react'
import { AssetImage } from '../../components/Asset/AssetImage'
import type { Asset } from './paging'

export const CELL = 180
export const SIDE = CELL - 4

/**
 * One grid cell: the thumbnail and the mining score of mined assets (its row draws the boxes; the
 * cell's ``data-count`` says how many are its). Memoized on the asset object (pages are cached, so it
 * stays the same object): scrolling renders only the cells that appear.
 */
export const Thumb = memo(function Thumb(props: {
  datasetId: number
  asset: Asset | undefined
  index: number
  mediaToken: string | undefined
  onOpen: (index: number) => void
}) {
  const { datasetId, asset, index, mediaToken, onOpen } = props
  const score = asset?.tags.mining_score
  return (
    <div
      style={{ width: SIDE, height: SIDE, position: 'relative', cursor: 'pointer', background: '#f0f2f5', flex: 'none' }}
      onClick={() => asset && onOpen(index)}
      data-testid="thumb"
      data-asset={asset?.asset_id}
      data-index={index}
      data-count={asset ? asset.gt.length + asset.pred.length : undefined}
    >
      {asset && (
        <>
          <AssetImage
            datasetId={datasetId}
            assetId={asset.asset_id}
            size={256}
            token={mediaToken}
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
