// Parsing a Server-Sent Events stream (the API's /tasks/events) into {event, data} messages.
export interface SseMessage {
  event: string
  data: string
}

/**
 * Splits the text received so far into complete messages and the unfinished rest; ``lastId`` is the
 * last ``id`` among the complete blocks (comments' blocks too), to resume from when reconnecting.
 */
export function parseSse(buffer: string): { messages: SseMessage[]; rest: string; lastId?: string } {
  const messages: SseMessage[] = []
  let lastId: string | undefined
  const blocks = buffer.replace(/\r\n/g, '\n').split('\n\n')
  const rest = blocks.pop() ?? ''
  for (const block of blocks) {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue
      const i = line.indexOf(':')
      const field = i < 0 ? line : line.slice(0, i)
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
      else if (field === 'id') lastId = value
    }
    if (data.length) messages.push({ event, data: data.join('\n') })
  }
  return { messages, rest, lastId }
}
