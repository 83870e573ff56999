import { describe, expect, it } from 'vitest'
import { hashKey } from '@tanstack/react-query'
import { assetPageQuery, NO_FILTERS, PAGE, pagesFor, type AssetFilters } from './paging'

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

describe('assetPageQuery', () => {
  it('is the same query for the first view started ahead (NO_FILTERS) and for the page with no filter set', () => {
    const page: AssetFilters = { class_name: undefined, side: 'any', mark: undefined, tvt: undefined, tag: undefined }
    expect(hashKey(assetPageQuery(7, NO_FILTERS, 0).queryKey)).toBe(hashKey(assetPageQuery(7, page, 0).queryKey))
    expect(hashKey(assetPageQuery(7, NO_FILTERS, 0).queryKey)).not.toBe(
      hashKey(assetPageQuery(7, { ...page, side: 'gt' }, 0).queryKey),
    )
  })
})
