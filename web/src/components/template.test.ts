import { describe, expect, it } from 'vitest'
import { configOf, rowsOf } from './template'

describe('template rows', () => {
  it('sends only changed and added keys, typed like the default', () => {
    const rows = rowsOf({ epochs: 60, amp: true, model_size: 'small' })
    rows[0]!.value = '3'
    rows.push({ key: 'extra', value: '0.5', default: undefined })
    expect(configOf(rows)).toEqual({ config: { epochs: 3, extra: 0.5 }, errors: {} })
  })
  it('names a key whose value is not of its type', () => {
    const rows = rowsOf({ epochs: 60, amp: true })
    rows[0]!.value = 'many'
    rows[1]!.value = 'yes'
    expect(configOf(rows).errors).toEqual({ epochs: 'number', amp: 'boolean' })
  })
})
