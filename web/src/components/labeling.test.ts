import { describe, expect, it } from 'vitest'
import { labelingStatus } from './labeling'

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
