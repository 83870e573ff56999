import { describe, expect, it } from 'vitest'
import { parseSse } from './sse'

describe('parseSse', () => {
  it('splits complete messages and keeps the rest', () => {
    const { messages, rest } = parseSse('retry: 2000\n\n: keep-alive\n\nevent: task\nid: a\ndata: {"id":"a"}\n\nevent: ta')
    expect(messages).toEqual([{ event: 'task', data: '{"id":"a"}' }])
    expect(rest).toBe('event: ta')
  })
})
