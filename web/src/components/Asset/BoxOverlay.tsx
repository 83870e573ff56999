import { classColor, type DrawnBox } from './boxes'

/**
 * Boxes drawn over an image as SVG in the image's own pixels (viewBox = the image's size), so each
 * rect's x/y/width/height are the box's coordinates: gt solid, predictions dashed with their score.
 */
export function BoxOverlay({ width, height, boxes, labels = true }: { width: number; height: number; boxes: DrawnBox[]; labels?: boolean }) {
  const stroke = Math.max(1, Math.round(Math.max(width, height) / 300))
  const font = Math.max(10, Math.round(Math.max(width, height) / 45))
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
          <g key={i} data-side={b.side} data-class={b.class_name} data-testid={`box-${b.side}`}>
            <rect
              x={b.x}
              y={b.y}
              width={b.w}
              height={b.h}
              fill="none"
              stroke={color}
              strokeWidth={stroke}
              strokeDasharray={b.side === 'pred' ? `${stroke * 4} ${stroke * 2}` : undefined}
              vectorEffect="non-scaling-stroke"
            />
            {labels && (
              <text
                x={b.x + 2}
                y={b.side === 'gt' ? Math.max(font, b.y - 2) : b.y + b.h - 3}
                fill={color}
                fontSize={font}
                fontWeight={b.side === 'gt' ? 700 : 400}
                stroke="#fff"
                strokeWidth={0.5}
              >
                {b.side === 'gt' ? b.label : `⋯ ${b.label}`}
              </text>
            )}
          </g>
        )
      })}
    </svg>
  )
}
