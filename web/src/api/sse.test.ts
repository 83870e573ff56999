import { describe, expect, it } from 'vitest'
import { parseSse } from './sse'

describe('parseSse', () => {
  it('splits complete messages and keeps the rest', () => {
    const { messages, rest } = parseSse('retry: 2000\n\n: keep-alive\n\nevent: task\nid: a\ndata: {"id":"a"}\n\nevent: ta')
    expect(messages).toEqual([{ event: 'task', data: '{"id":"a"}' }])
    expect(rest).toBe('event: ta')
  })

  it('keeps the last id, of a comment block too, to resume from', () => {
    expect(parseSse('event: task\nid: 10.5\ndata: {}\n\nid: 12.25\n: keep-alive\n\nid: 13').lastId).toBe('12.25')
    expect(parseSse('retry: 2000\n\n').lastId).toBeUndefined()
  })
})
