import { describe, expect, it } from 'vitest'
import type { Schemas } from '../../api/client'
import { actionsFor } from './actions'

const version = (over: Partial<Schemas['DatasetVersionOut']>): Schemas['DatasetVersionOut'] => ({
  id: 1, group_id: 1, project_id: 1, version_num: 1, rev: 'r', state: 'ready', task_id: null, is_public: false,
  asset_count: 10, tvt: {}, gt_stats: {}, pred_stats: {}, gt_boxes: 5, pred_boxes: 0, source_ids: [],
  description: '', created_at: '2026-01-01T00:00:00Z', ...over,
})

describe('actionsFor', () => {
  it('offers evaluation only with both ground truth and predictions', () => {
    expect(actionsFor(version({})).forms).not.toContain('evaluate')
    expect(actionsFor(version({ pred_boxes: 3 })).forms).toContain('evaluate')
  })
  it('offers training only with ground truth, labeling and mining only with images', () => {
    expect(actionsFor(version({ gt_boxes: 0, pred_boxes: 2 })).pages).toEqual(['mine', 'infer'])
    const empty = actionsFor(version({ asset_count: 0, gt_boxes: 0 }))
    expect(empty.pages).toEqual([])
    expect(empty.forms).toEqual(['merge', 'fuse'])
  })
  it('offers nothing while the version is not ready', () => {
    expect(actionsFor(version({ state: 'pending' }))).toEqual({ forms: [], pages: [] })
  })
})
