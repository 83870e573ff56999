import { describe, expect, it } from 'vitest'
import { splitList } from './forms'

describe('splitList', () => {
  it('splits on commas (also the Chinese one) and drops blanks', () => {
    expect(splitList(' cat, dog ，bird,,')).toEqual(['cat', 'dog', 'bird'])
    expect(splitList(undefined)).toEqual([])
  })
})
