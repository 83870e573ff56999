import { Button, Result, Typography } from 'antd'
import { Link } from 'react-router'
import { useTranslation } from 'react-i18next'
import type { Schemas } from '../api/client'
import { useLiveTask } from '../api/live'
import { useTaskDownload } from '../api/download'
import { TaskState } from './TaskState'
import { LabelingProgress } from './LabelingProgress'

/**
 * A task just started from a form: its live state, and its error (what failed and the fix) if it
 * fails; once done, its file if it wrote one (an export). ``note`` replaces the generic "task started"
 * line; ``next`` is where the user goes on.
 */
export function StartedTask({ task, next, note }: { task: Schemas['TaskOut']; next: string; note?: string }) {
  const { t } = useTranslation('task')
  const live = useLiveTask(task.id)
  const state = live?.state ?? task.state
  const error = (live?.error ?? null) as { message?: string; fix?: string } | null
  const output = ((live ?? task).result as { output?: string } | null)?.output
  const download = useTaskDownload()
  return (
    <Result
      status={state === 'failed' ? 'error' : state === 'done' ? 'success' : 'info'}
      title={<TaskState state={state} taskId={task.id} />}
      subTitle={
        error ? (
          <Typography.Text type="danger" data-testid="task-error">
            {[error.message, error.fix].filter(Boolean).join(' — ')}
          </Typography.Text>
        ) : (
          (note ?? t('started', { id: task.id.slice(0, 8) }))
        )
      }
      extra={
        <>
          <LabelingProgress taskId={task.id} task={task} />
          {state === 'done' && output && (
            <Button type="primary" onClick={() => download(task.id)} data-testid="download">
              {t('download')}
            </Button>
          )}
          <Link to={next} data-testid="continue">{t('continue')}</Link>
        </>
      }
    />
  )
}
