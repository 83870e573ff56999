import { describe, expect, it } from 'vitest'
import { page } from './pageLoader'

const Component = () => null

describe('page', () => {
  it('loads its chunk once, however often it is preloaded', async () => {
    let loads = 0
    const p = page(async () => {
      loads++
      return { default: Component }
    })
    const [a, b] = await Promise.all([p.preload(), p.preload()])
    expect(a).toBe(Component)
    expect(b).toBe(Component)
    await p.preload()
    expect(loads).toBe(1)
  })
  it('loads again after a failure (a chunk that could not be fetched)', async () => {
    let loads = 0
    const p = page(async () => {
      if (loads++ === 0) throw new Error('offline')
      return { default: Component }
    })
    await expect(p.preload()).rejects.toThrow('offline')
    await expect(p.preload()).resolves.toBe(Component)
    expect(loads).toBe(2)
  })
})
