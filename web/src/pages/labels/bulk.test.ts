import { describe, expect, it } from 'vitest'
import { parseBulkLabels } from './bulk'

describe('parseBulkLabels', () => {
  it('reads one label per line with its aliases, and where each came from', () => {
    expect(parseBulkLabels('car, auto\n\n  bus \ntruck，lorry')).toEqual({
      labels: [
        { name: 'car', aliases: ['auto'] },
        { name: 'bus', aliases: [] },
        { name: 'truck', aliases: ['lorry'] },
      ],
      lines: [1, 3, 4],
    })
  })
})
