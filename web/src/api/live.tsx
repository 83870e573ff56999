// Live task progress pushed by the server (GET /api/v1/tasks/events, Server-Sent Events): one stream
// per signed-in tab; pages read a task's latest state from here instead of polling.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import { api, type Schemas } from './client'
import { keys } from './queries'
import { parseSse } from './sse'

type Task = Schemas['TaskOut']
const LiveTasks = createContext<Record<string, Task>>({})

const FINAL = new Set(['done', 'failed', 'cancelled'])

export function LiveTasksProvider({ children }: { children: ReactNode }) {
  const [tasks, setTasks] = useState<Record<string, Task>>({})
  const queryClient = useQueryClient()

  useEffect(() => {
    const abort = new AbortController()
    let stopped = false
    // the server's time of the last message: a stream that reconnects also gets the tasks that ended
    // meanwhile (without it, a form would show such a task running for ever)
    let since: number | undefined
    const run = async () => {
      while (!stopped) {
        try {
          const { response } = await api.GET('/api/v1/tasks/events', {
            params: { query: { seconds: 300, since } },
            parseAs: 'stream',
            signal: abort.signal,
          })
          if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`)
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
          let buffer = ''
          for (;;) {
            const { value, done } = await reader.read()
            if (done) break
            const parsed = parseSse(buffer + value)
            buffer = parsed.rest
            if (parsed.lastId !== undefined && Number.isFinite(Number(parsed.lastId))) since = Number(parsed.lastId)
            for (const m of parsed.messages) {
              if (m.event !== 'task') continue
              const task = JSON.parse(m.data) as Task
              setTasks((old) => ({ ...old, [task.id]: task }))
              void queryClient.invalidateQueries({ queryKey: keys.tasks.all })
              if (FINAL.has(task.state)) {
                for (const key of [keys.datasets.all, keys.models.all, keys.iterations.all, keys.projects.all]) {
                  void queryClient.invalidateQueries({ queryKey: key })
                }
              }
            }
          }
        } catch {
          if (stopped) return
        }
        await new Promise((r) => setTimeout(r, 2000))
      }
    }
    void run()
    return () => {
      stopped = true
      abort.abort()
    }
  }, [queryClient])

  return <LiveTasks.Provider value={tasks}>{children}</LiveTasks.Provider>
}

/** The latest pushed state of a task, if the stream has seen it. */
export function useLiveTask(id: string | null | undefined): Task | undefined {
  const tasks = useContext(LiveTasks)
  return id ? tasks[id] : undefined
}
