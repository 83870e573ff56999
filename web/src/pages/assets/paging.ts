// Pages of a version's assets fetched by number, for the rows on screen only: scrolling (or dragging
// the scrollbar) to row 500,000 fetches that row's page, not the 5,000 pages before it.
import { queryOptions, useQueries } from '@tanstack/react-query'
import { useCallback } from 'react'
import { api, unwrap, type Schemas } from '../../api/client'
import { keys } from '../../api/queries'

export type Asset = Schemas['AssetOut']
export type AssetPage = Schemas['AssetPage']
export type Side = 'any' | 'gt' | 'pred'
export type Mark = 'tp' | 'fp' | 'fn' | 'mtp'
export type Tvt = 'train' | 'val' | 'test' | 'unknown'

export interface AssetFilters {
  class_name?: string
  side: Side
  mark?: Mark
  tvt?: Tvt
  tag?: string
}

/** No filter: every asset of the version (the asset browser's first view). */
export const NO_FILTERS: AssetFilters = { side: 'any' }

export const PAGE = 120

export const pageOf = (i: number) => Math.floor(i / PAGE)

/** The page numbers holding assets first..last (inclusive), within total. */
export function pagesFor(first: number, last: number, total: number): number[] {
  if (total <= 0 || last < first) return [0]
  const lo = pageOf(Math.max(0, first))
  const hi = pageOf(Math.min(total - 1, last))
  const out = []
  for (let p = lo; p <= hi; p++) out.push(p)
  return out
}

export const assetPageQuery = (did: number, filters: AssetFilters, page: number) =>
  queryOptions({
    queryKey: [...keys.datasets.assets(did, filters), page] as const,
    queryFn: ({ signal }) =>
      unwrap(
        api.GET('/api/v1/datasets/{dataset_id}/assets', {
          params: { path: { dataset_id: did }, query: { ...filters, offset: page * PAGE, limit: PAGE } },
          signal,
        }),
      ),
    staleTime: Infinity, // a version never changes
    gcTime: 5 * 60_000,
  })

/**
 * The asset at index i, if its page is loaded, given the first page (``head``, fetched by the caller:
 * it has the total) and the assets first..last on screen, whose pages this fetches.
 */
export function usePagedAssets(
  did: number,
  filters: AssetFilters,
  head: AssetPage | undefined,
  first: number,
  last: number,
): (i: number) => Asset | undefined {
  const wanted = pagesFor(first, last, head?.total ?? 0).filter((p) => p !== 0)
  const loaded = useQueries({
    queries: wanted.map((p) => assetPageQuery(did, filters, p)),
    combine: combinePages,
  })
  return useCallback(
    (i: number) => {
      const p = pageOf(i)
      const data = p === 0 ? head : loaded.get(p)
      return data?.items[i - p * PAGE]
    },
    [head, loaded],
  )
}

function combinePages(results: { data?: AssetPage }[]): Map<number, AssetPage> {
  const m = new Map<number, AssetPage>()
  for (const r of results) if (r.data) m.set(pageOf(r.data.offset), r.data)
  return m
}
