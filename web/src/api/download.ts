// Saving what an export task wrote (GET /tasks/{id}/download) as a file of the user's.
import { App } from 'antd'
import { useTranslation } from 'react-i18next'
import { api } from './client'
import { ApiError, errorMessage, type ErrorBody } from './errors'

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

/** Downloads a task's file from a click; a refusal (an export removed since, say) shows as a message
 * in the user's language saying why. */
export function useTaskDownload(): (taskId: string) => void {
  const { t } = useTranslation('task')
  const { message } = App.useApp()
  return (taskId) =>
    void saveTaskOutput(taskId).catch((e: unknown) => void message.error(`${t('downloadFailed')}: ${errorMessage(e, t)}`))
}
