// Saving what an export task wrote (GET /tasks/{id}/download) as a file of the user's.
import { api } from './client'
import { ApiError, type ErrorBody } from './errors'

/** Downloads the task's file and hands it to the browser under the server's file name. */
export async function saveTaskOutput(taskId: string): Promise<void> {
  const { data, error, response } = await api.GET('/api/v1/tasks/{task_id}/download', {
    params: { path: { task_id: taskId } },
    parseAs: 'blob',
  })
  if (!response.ok || !data) throw new ApiError(response.status, error as ErrorBody | undefined)
  const a = document.createElement('a')
  a.href = URL.createObjectURL(data as Blob)
  const name = /filename="?([^";]+)"?/.exec(response.headers.get('Content-Disposition') ?? '')?.[1]
  a.download = name ?? `${taskId}.bin`
  a.click()
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000)
}
