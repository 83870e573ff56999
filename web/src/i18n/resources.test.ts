import { describe, expect, it } from 'vitest'
import { resources } from './resources'

function keys(obj: unknown, prefix = ''): string[] {
  if (typeof obj !== 'object' || obj === null) return [prefix]
  return Object.entries(obj).flatMap(([k, v]) => keys(v, prefix ? `${prefix}.${k}` : k))
}

describe('locales', () => {
  it('English and Chinese have the same namespaces and keys', () => {
    expect(Object.keys(resources.zh).sort()).toEqual(Object.keys(resources.en).sort())
    for (const ns of Object.keys(resources.en) as (keyof typeof resources.en)[]) {
      expect(keys(resources.zh[ns]).sort(), ns).toEqual(keys(resources.en[ns]).sort())
    }
  })

  it('no translation is empty', () => {
    for (const lang of Object.values(resources)) {
      for (const ns of Object.values(lang)) {
        for (const k of keys(ns)) {
          const value = k.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], ns)
          expect(String(value).trim(), k).not.toBe('')
        }
      }
    }
  })
})
