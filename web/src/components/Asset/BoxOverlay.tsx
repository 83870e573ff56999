import { memo } from 'react'
import { classColor, type DrawnBox } from './boxes'

/**
 * Boxes drawn over an image as SVG in the image's own pixels (viewBox = the image's size), so each
 * rect's x/y/width/height are the box's coordinates: gt solid, predictions dashed with their score.
 */
export const BoxOverlay = memo(function BoxOverlay({ width, height, boxes, labels = true }: { width: number; height: number; boxes: DrawnBox[]; labels?: boolean }) {
  // sizes in the image's pixels, so they look alike on any image size: the font is 1/28 of the
  // longer side, the stroke is 2 screen pixels whatever the zoom
  const side = Math.max(width, height)
  const font = side / 28
  const dash = side / 60
  return (
    <svg
      viewBox={`0 0 ${width} ${height}`}
      preserveAspectRatio="xMidYMid meet"
      style={{ position: 'absolute', inset: 0, width: '100%', height: '100%', pointerEvents: 'none' }}
      data-testid="boxes"
    >
      {boxes.map((b, i) => {
        const color = classColor(b.class_name)
        return (
          <g key={i} data-side={b.side} data-class={b.class_name}>
            {!labels && <title>{b.label}</title>}
            <rect
              x={b.x}
              y={b.y}
              width={b.w}
              height={b.h}
              fill="none"
              stroke={color}
              strokeWidth={2}
              strokeDasharray={b.side === 'pred' ? `${dash * 2} ${dash}` : undefined}
              vectorEffect="non-scaling-stroke"
            />
            {labels && (
              <text
                x={b.x + font / 6}
                y={b.side === 'gt' ? Math.max(font, b.y - font / 4) : b.y + b.h - font / 4}
                fill={color}
                fontSize={font}
                fontWeight={b.side === 'gt' ? 700 : 400}
                stroke="#fff"
                strokeWidth={font / 12}
                paintOrder="stroke"
              >
                {b.side === 'gt' ? b.label : `⋯ ${b.label}`}
              </text>
            )}
          </g>
        )
      })}
    </svg>
  )
})
