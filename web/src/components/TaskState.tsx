import { Progress, Tag, Tooltip } from 'antd'
import { useTranslation } from 'react-i18next'
import { useLiveTask } from '../api/live'

const COLORS: Record<string, string> = {
  ready: 'green', done: 'green', pending: 'blue', queued: 'blue', running: 'processing',
  failed: 'red', cancelled: 'default', lost: 'orange',
}

/** A version's or task's state; while its task runs, the progress pushed by the server. */
export function TaskState({ state, taskId }: { state: string; taskId?: string | null }) {
  const { t } = useTranslation('common')
  const live = useLiveTask(taskId)
  const running = state === 'pending' || state === 'running' || state === 'queued'
  return (
    <span data-testid="state" data-state={state}>
      <Tag color={COLORS[state] ?? 'default'}>{t(`state.${state}`, { defaultValue: state })}</Tag>
      {running && live && (
        <Tooltip title={live.stage}>
          <Progress percent={Math.round(live.percent * 100)} size="small" style={{ width: 100 }} data-testid="progress" />
        </Tooltip>
      )}
    </span>
  )
}
