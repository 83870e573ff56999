import { memo, useEffect, useMemo, useRef, useState } from 'react'
import { drawBoxes, hitTest, toScreen, type DrawnBox, type View } from './boxes'

/**
 * Boxes drawn on one <canvas> over an image (one element whatever the number of boxes, unlike an SVG
 * element per box): ``view`` places the image's pixels on the canvas. With ``hover``, the box under the
 * pointer is highlighted and its class, score and evaluation mark shown.
 *
 * Test hook: ``data-count`` (and ``data-gt``, ``data-pred``) count the drawn boxes; with ``expose`` the
 * drawn boxes, in the canvas's CSS pixels, are in ``data-boxes`` as JSON (``ScreenBox[]``).
 */
export const BoxCanvas = memo(function BoxCanvas(props: {
  width: number
  height: number
  view: View
  boxes: readonly DrawnBox[]
  labels: boolean
  hover?: boolean
  expose?: boolean
  testId?: string
}) {
  const { width, height, view, boxes, labels, hover = false, expose = false, testId = 'box-canvas' } = props
  const ref = useRef<HTMLCanvasElement>(null)
  const [hot, setHot] = useState(-1)
  const [tip, setTip] = useState<{ x: number; y: number } | null>(null)
  const screen = useMemo(() => toScreen(boxes, view), [boxes, view])
  const hotBox = hot >= 0 && hot < screen.length ? hot : -1

  useEffect(() => {
    const canvas = ref.current
    if (!canvas) return
    const dpr = window.devicePixelRatio || 1
    const w = Math.max(1, Math.round(width * dpr))
    const h = Math.max(1, Math.round(height * dpr))
    if (canvas.width !== w) canvas.width = w
    if (canvas.height !== h) canvas.height = h
    const ctx = canvas.getContext('2d')
    if (!ctx) return
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.clearRect(0, 0, width, height)
    const side = Math.min(width, height)
    drawBoxes(ctx, screen, {
      labels,
      highlight: hotBox,
      lineWidth: side < 300 ? 1.5 : 2,
      font: Math.max(10, Math.min(14, Math.round(side / 45))),
    })
    canvas.dataset.count = String(screen.length)
    let gt = 0
    for (const b of screen) if (b.side === 'gt') gt++
    canvas.dataset.gt = String(gt)
    canvas.dataset.pred = String(screen.length - gt)
    if (expose) canvas.dataset.boxes = JSON.stringify(screen)
  }, [screen, width, height, labels, hotBox, expose])

  const shown = hotBox >= 0 ? boxes[hotBox] : undefined
  return (
    <>
      <canvas
        ref={ref}
        data-testid={testId}
        style={{ position: 'absolute', left: 0, top: 0, width, height, pointerEvents: hover ? 'auto' : 'none' }}
        onMouseMove={
          hover
            ? (e) => {
                const r = e.currentTarget.getBoundingClientRect()
                const x = e.clientX - r.left
                const y = e.clientY - r.top
                const i = hitTest(screen, x, y)
                if (i !== hot) setHot(i)
                setTip(i >= 0 ? { x, y } : null)
              }
            : undefined
        }
        onMouseLeave={
          hover
            ? () => {
                setHot(-1)
                setTip(null)
              }
            : undefined
        }
      />
      {shown && tip && (
        <div
          data-testid="box-tip"
          style={{
            position: 'absolute',
            left: Math.min(tip.x + 12, width - 160),
            top: tip.y + 12,
            background: 'rgba(0,0,0,0.8)',
            color: '#fff',
            padding: '2px 6px',
            borderRadius: 4,
            fontSize: 12,
            pointerEvents: 'none',
            whiteSpace: 'nowrap',
          }}
        >
          {shown.side === 'gt' ? 'GT' : 'pred'} · {shown.label}
          {shown.mark ? ` · ${shown.mark.toUpperCase()}` : ''}
        </div>
      )}
    </>
  )
})
