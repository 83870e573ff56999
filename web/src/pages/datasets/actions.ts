// Which actions a dataset version offers, by its state and content (pure: unit-tested).
import type { Schemas } from '../../api/client'

type Version = Schemas['DatasetVersionOut']
export type FormAction = 'merge' | 'filter' | 'sampling' | 'fuse' | 'label' | 'evaluate' | 'export'

/** The actions a version's content allows (YMIR offers only what makes sense for it). */
export function actionsFor(v: Version): { forms: FormAction[]; pages: ('train' | 'mine' | 'infer')[] } {
  if (v.state !== 'ready') return { forms: [], pages: [] }
  const images = v.asset_count > 0
  const boxes = v.gt_boxes + v.pred_boxes > 0
  const forms: FormAction[] = ['merge', 'fuse']
  if (boxes) forms.push('filter')
  if (images) forms.push('sampling', 'label', 'export')
  if (v.gt_boxes > 0 && v.pred_boxes > 0) forms.push('evaluate')
  const pages: ('train' | 'mine' | 'infer')[] = []
  if (v.gt_boxes > 0) pages.push('train')
  if (images) pages.push('mine', 'infer')
  return { forms, pages }
}
