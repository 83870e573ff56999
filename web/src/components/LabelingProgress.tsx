import { Alert, App, Button, Progress, Space } from 'antd'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../api/client'
import { errorMessage } from '../api/errors'
import { useLiveTask } from '../api/live'
import { labelingView } from './labeling'

/**
 * A running labeling task as the user follows it: images labeled of the total, links into Label Studio
 * (its labeling page, which opens the next image to label, and the project's list of images) and
 * "Finish now" (import what is labeled, end the task); or why it waits — Label Studio cannot be
 * reached (it tries again by itself; "Finish now" once it is back tries at once), or boxes must be
 * fixed in Label Studio first.
 */
export function LabelingProgress({ taskId, task }: { taskId: string; task?: Schemas['TaskOut'] }) {
  const { t } = useTranslation('task')
  const { message } = App.useApp()
  const live = useLiveTask(taskId) ?? task
  const view = live && live.kind === 'label' && live.state === 'running' ? labelingView(live.stage, live.message) : null
  if (!view) return null
  const finish = () =>
    unwrap(api.POST('/api/v1/tasks/{task_id}/finish', { params: { path: { task_id: taskId } } }))
      .then(() => void message.success(t('finishing')))
      .catch((e: unknown) => void message.error(errorMessage(e, t)))
  const finishButton = (label: string) => (
    <Button size="small" onClick={() => void finish()} data-testid="finish-labeling">{label}</Button>
  )
  if (view.kind === 'waiting') {
    return (
      <Space direction="vertical" data-testid="labeling">
        <Alert type="warning" showIcon data-testid="labeling-waiting" message={t('labelStudioAway')} description={view.detail} />
        {finishButton(t('finishNow'))}
      </Space>
    )
  }
  const open = (url: string) => (
    <a href={url} target="_blank" rel="noreferrer" data-testid="label-studio-link">{t('openLabelStudio')}</a>
  )
  if (view.kind === 'fixes') {
    return (
      <Space direction="vertical" data-testid="labeling">
        <Alert type="error" showIcon data-testid="labeling-problems" message={t('needsFixes')} description={view.detail} />
        <Space>
          {view.url && open(view.url)}
          {finishButton(t('finishAgain'))}
        </Space>
      </Space>
    )
  }
  return (
    <Space data-testid="labeling" wrap>
      <Progress percent={view.total ? Math.round((100 * view.done) / view.total) : 0} size="small" style={{ width: 160 }}
        format={() => `${view.done}/${view.total}`} data-testid="labeling-progress" />
      <a href={`${view.url}?labeling=1`} target="_blank" rel="noreferrer" data-testid="label-studio-label">{t('labelInLabelStudio')}</a>
      {open(view.url)}
      {finishButton(t('finishNow'))}
    </Space>
  )
}
