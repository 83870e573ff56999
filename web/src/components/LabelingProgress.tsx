import { App, Button, Progress, Space } from 'antd'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../api/client'
import { errorMessage } from '../api/errors'
import { useLiveTask } from '../api/live'
import { labelingStatus } from './labeling'

/**
 * A labeling task's progress: images labeled of the total, a link to its Label Studio project and
 * "Finish now" (import what is labeled, end the task).
 */
export function LabelingProgress({ taskId, task }: { taskId: string; task?: Schemas['TaskOut'] }) {
  const { t } = useTranslation('task')
  const { message } = App.useApp()
  const live = useLiveTask(taskId) ?? task
  const status = labelingStatus(live?.message)
  if (!live || live.kind !== 'label' || !status || live.state !== 'running') return null
  const finish = () =>
    unwrap(api.POST('/api/v1/tasks/{task_id}/finish', { params: { path: { task_id: taskId } } }))
      .then(() => void message.success(t('finishing')))
      .catch((e: unknown) => void message.error(errorMessage(e, t)))
  return (
    <Space data-testid="labeling" wrap>
      <Progress percent={status.total ? Math.round((100 * status.done) / status.total) : 0} size="small" style={{ width: 160 }}
        format={() => `${status.done}/${status.total}`} />
      <a href={status.url} target="_blank" rel="noreferrer" data-testid="label-studio-link">{t('openLabelStudio')}</a>
      <Button size="small" onClick={() => void finish()} data-testid="finish-labeling">{t('finishNow')}</Button>
    </Space>
  )
}
