// A labeling task's stage and message, read (controller/handlers/labeling.py writes them):
//   labeling                      "3/6 labeled · http://ls/projects/4/data"
//   waiting for Label Studio      "Label Studio at http://ls cannot be reached (ConnectError); next try in 4 s"
//   needs fixes in Label Studio   "1 box(es) cannot be imported: … · fix them at http://ls/projects/4/data, then finish again"

export interface LabelingStatus {
  done: number
  total: number
  /** the Label Studio project's data page */
  url: string
}

export type LabelingView =
  | ({ kind: 'labeling' } & LabelingStatus)
  | { kind: 'waiting'; detail: string }
  | { kind: 'fixes'; detail: string; url: string }

const PROJECT = /https?:\/\/\S+?\/projects\/\d+\/data/

export function labelingStatus(message: string | null | undefined): LabelingStatus | null {
  const m = /(\d+)\/(\d+) labeled · (https?:\/\/\S+?\/projects\/\d+\/data)/.exec(message ?? '')
  if (!m) return null
  return { done: Number(m[1]), total: Number(m[2]), url: m[3] ?? '' }
}

/** What the GUI shows of a running labeling task: its progress, a wait for Label Studio, or boxes to fix. */
export function labelingView(stage: string | null | undefined, message: string | null | undefined): LabelingView | null {
  if (stage === 'waiting for Label Studio') return { kind: 'waiting', detail: message ?? '' }
  if (stage === 'needs fixes in Label Studio') {
    return { kind: 'fixes', detail: message ?? '', url: PROJECT.exec(message ?? '')?.[0] ?? '' }
  }
  const status = labelingStatus(message)
  return status ? { kind: 'labeling', ...status } : null
}
