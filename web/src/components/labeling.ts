// A labeling task's message, read: "3/6 labeled · http://ls/projects/4/data" (controller/handlers/labeling.py).

export interface LabelingStatus {
  done: number
  total: number
  /** the Label Studio project's data page */
  url: string
}

export function labelingStatus(message: string | null | undefined): LabelingStatus | null {
  const m = /(\d+)\/(\d+) labeled · (https?:\/\/\S+?\/projects\/\d+\/data)/.exec(message ?? '')
  if (!m) return null
  return { done: Number(m[1]), total: Number(m[2]), url: m[3] ?? '' }
}
