import { memo, useMemo } from 'react'
import { BoxCanvas } from '../../components/Asset/BoxCanvas'
import { AssetImage } from '../../components/Asset/AssetImage'
import { fitView, visibleBoxes } from '../../components/Asset/boxes'
import type { Asset } from './paging'

export const CELL = 180
const SIDE = CELL - 4
const NO_CLASSES = new Set<string>()
const ALL = { showGt: true, showPred: true, minScore: 0, hiddenClasses: NO_CLASSES }

/**
 * One grid cell: the thumbnail, its boxes on a canvas, and the mining score of mined assets. Memoized
 * on the asset object (pages are cached, so it stays the same object): scrolling renders only the
 * cells that appear.
 */
export const Thumb = memo(function Thumb(props: {
  datasetId: number
  asset: Asset | undefined
  index: number
  mediaToken: string | undefined
  onOpen: (index: number) => void
}) {
  const { datasetId, asset, index, mediaToken, onOpen } = props
  const boxes = useMemo(() => (asset ? visibleBoxes(asset, ALL) : []), [asset])
  const view = useMemo(() => fitView(asset?.width ?? 1, asset?.height ?? 1, SIDE, SIDE), [asset])
  const score = asset?.tags.mining_score
  return (
    <div
      style={{ width: SIDE, height: SIDE, position: 'relative', cursor: 'pointer', background: '#f0f2f5', flex: 'none' }}
      onClick={() => asset && onOpen(index)}
      data-testid="thumb"
      data-asset={asset?.asset_id}
      data-index={index}
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
          <BoxCanvas width={SIDE} height={SIDE} view={view} boxes={boxes} labels={false} />
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
