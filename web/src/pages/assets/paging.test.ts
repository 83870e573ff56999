import { describe, expect, it } from 'vitest'
import { PAGE, pagesFor } from './paging'

describe('pagesFor', () => {
  it('fetches only the pages of the assets on screen', () => {
    expect(pagesFor(0, 10, 1_000_000)).toEqual([0])
    expect(pagesFor(PAGE * 5000 + 3, PAGE * 5001 + 1, 1_000_000)).toEqual([5000, 5001])
  })
  it('stops at the last asset', () => {
    expect(pagesFor(PAGE - 2, PAGE * 3, PAGE + 1)).toEqual([0, 1])
    expect(pagesFor(0, 10, 0)).toEqual([0])
  })
})
