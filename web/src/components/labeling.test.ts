import { describe, expect, it } from 'vitest'
import { labelingStatus, labelingView } from './labeling'

describe('labelingStatus', () => {
  it("reads the labeling task's progress and Label Studio link", () => {
    expect(labelingStatus('3/6 labeled · http://127.0.0.1:8080/projects/4/data · invite: http://x/join')).toEqual({
      done: 3,
      total: 6,
      url: 'http://127.0.0.1:8080/projects/4/data',
    })
  })
  it('is null for any other message', () => {
    expect(labelingStatus('sending images to Label Studio')).toBeNull()
    expect(labelingStatus(undefined)).toBeNull()
  })
})

describe('labelingView', () => {
  it('shows the progress while annotators work', () => {
    expect(labelingView('labeling', '1/3 labeled · http://ls:8080/projects/2/data')).toEqual({
      kind: 'labeling', done: 1, total: 3, url: 'http://ls:8080/projects/2/data',
    })
  })
  it('says when Label Studio cannot be reached', () => {
    const message = 'Label Studio at http://ls:8080 cannot be reached (ConnectError); next try in 4 s'
    expect(labelingView('waiting for Label Studio', message)).toEqual({ kind: 'waiting', detail: message })
  })
  it('lists boxes to fix with the link to fix them at', () => {
    const message = '1 box(es) cannot be imported: asset a1 … · fix them at http://ls/projects/7/data, then finish again'
    expect(labelingView('needs fixes in Label Studio', message)).toEqual({
      kind: 'fixes', detail: message, url: 'http://ls/projects/7/data',
    })
  })
  it('shows nothing before the project exists', () => {
    expect(labelingView('sending images to Label Studio', '6 images')).toBeNull()
    expect(labelingView(undefined, undefined)).toBeNull()
  })
})
