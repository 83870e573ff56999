import { useMemo, useState } from 'react'
import { App, Button, Card, Empty, Form, Input, Radio, Select, Space, Steps, Typography } from 'antd'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useParams } from 'react-router'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../../api/client'
import { errorMessage } from '../../api/errors'
import { iterationsQuery, keys, modelsQuery, projectQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'
import { TaskState } from '../../components/TaskState'
import { LabelingProgress } from '../../components/LabelingProgress'
import { Chart } from '../../charts/Chart'
import { buildRoundsOption } from '../../charts/options'
import { useDatasetOptions } from '../models/TrainForm'

type Iteration = Schemas['IterationOut']
const SKIPPABLE = new Set(['prepare_mining', 'label'])
type LabelHow = 'label_studio' | 'version' | 'unlabeled'

/** YMIR's five steps per round as a guided flow: each step pre-filled from the round and the last one. */
export default function Iterations() {
  const { t } = useTranslation('iteration')
  const pid = Number(useParams().pid)
  const project = useQuery(projectQuery(pid))
  const rounds = useQuery(iterationsQuery(pid))
  const queryClient = useQueryClient()
  const { message } = App.useApp()
  const start = useMutation({
    mutationFn: () => unwrap(api.POST('/api/v1/projects/{project_id}/iterations', { params: { path: { project_id: pid } }, body: {} })),
    onError: (e) => void message.error(errorMessage(e, t)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.iterations.all }),
  })
  const list = useMemo(() => rounds.data ?? [], [rounds.data])
  const open = list.find((r) => r.state !== 'done')
  const option = useMemo(
    () => buildRoundsOption(list.map((r) => ({ round: r.round, map: (r.summary?.map50_95 as number | null) ?? null })), project.data?.target_map ?? null, 'mAP'),
    [list, project.data],
  )
  return (
    <>
      <Typography.Title level={3}>{t('title')}</Typography.Title>
      <ErrorAlert error={rounds.error} />
      <ProjectSets pid={pid} />
      {list.length > 0 && (
        <Card size="small" title={t('chart')} style={{ marginBottom: 16 }}>
          <Chart option={option} height={220} testId="rounds-chart" />
        </Card>
      )}
      {!open && (
        <Button type="primary" onClick={() => start.mutate()} loading={start.isPending} style={{ marginBottom: 16 }} data-testid="start-round">
          {t('startRound', { round: list.length + 1 })}
        </Button>
      )}
      {list.length === 0 && <Empty description={t('empty')} />}
      {[...list].reverse().map((r) => <Round key={r.id} pid={pid} round={r} />)}
    </>
  )
}

function ProjectSets({ pid }: { pid: number }) {
  const { t } = useTranslation('iteration')
  const project = useQuery(projectQuery(pid))
  const models = useQuery(modelsQuery(pid))
  const datasets = useDatasetOptions(pid)
  const queryClient = useQueryClient()
  const { message } = App.useApp()
  const save = useMutation({
    mutationFn: (body: Record<string, number | null>) =>
      unwrap(api.PATCH('/api/v1/projects/{project_id}', { params: { path: { project_id: pid } }, body })),
    onSuccess: () => void message.success(t('saved')),
    onError: (e) => void message.error(errorMessage(e, t)),
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.projects.all }),
  })
  if (!project.data) return null
  const p = project.data
  const pick = (field: 'training_dataset_id' | 'validation_dataset_id' | 'mining_dataset_id') => (
    <Select id={`sets_${field}`} allowClear style={{ width: 260 }} value={p[field] ?? undefined} options={datasets} onChange={(v) => save.mutate({ [field]: v ?? null })} />
  )
  return (
    <Card size="small" title={t('sets')} style={{ marginBottom: 16 }}>
      <Space wrap>
        <span>{t('trainingSet')}</span>{pick('training_dataset_id')}
        <span>{t('validationSet')}</span>{pick('validation_dataset_id')}
        <span>{t('miningSet')}</span>{pick('mining_dataset_id')}
        <span>{t('initialModel')}</span>
        <Select id="sets_initial_model_id" allowClear style={{ width: 180 }} value={p.initial_model_id ?? undefined}
          options={(models.data?.items ?? []).filter((m) => m.state === 'ready').map((m) => ({ value: m.id, label: `#${m.id} v${m.version_num}` }))}
          onChange={(v) => save.mutate({ initial_model_id: v ?? null })} />
      </Space>
    </Card>
  )
}

function Round({ pid, round }: { pid: number; round: Iteration }) {
  const { t } = useTranslation('iteration')
  const steps = round.steps ?? []
  const summary = round.summary ?? {}
  const current = steps.findIndex((s) => s.state !== 'done' && s.state !== 'skipped')
  const step = current >= 0 ? steps[current] : undefined
  return (
    <Card size="small" title={t('round', { round: round.round })} style={{ marginBottom: 16 }}
      extra={<Typography.Text type="secondary">{t('summary', { size: summary.training_set_size ?? '—', map: typeof summary.map50_95 === 'number' ? summary.map50_95.toFixed(3) : '—' })}</Typography.Text>}>
      <Steps
        size="small"
        current={current >= 0 ? current : steps.length}
        items={steps.map((s) => ({
          title: t(`steps.${s.name}`),
          status: s.state === 'failed' ? 'error' : s.state === 'done' || s.state === 'skipped' ? 'finish' : s === step ? 'process' : 'wait',
          description: s.task_id ? (
            <span data-testid={`step-${s.name}`} data-state={s.state}>
              <TaskState state={s.state} taskId={s.task_id} />
              {s.name === 'label' && <LabelingProgress taskId={s.task_id} />}
            </span>
          ) : (
            <span data-testid={`step-${s.name}`} data-state={s.state}>{t(`stepStates.${s.state}`, { defaultValue: s.state })}</span>
          ),
        }))}
      />
      {step && step.state !== 'running' && <StepForm pid={pid} round={round} step={step} />}
    </Card>
  )
}

function StepForm({ pid, round, step }: { pid: number; round: Iteration; step: Schemas['IterationStepOut'] }) {
  const { t } = useTranslation('iteration')
  const datasets = useDatasetOptions(pid)
  const queryClient = useQueryClient()
  const [presets, setPresets] = useState(JSON.stringify({ ...defaults(step.name), ...step.presets }, null, 1))
  const [labeled, setLabeled] = useState<number | undefined>()
  const [how, setHow] = useState<LabelHow>('label_studio')
  const run = useMutation({
    mutationFn: (skip: boolean) => {
      let parsed: Record<string, unknown>
      try {
        parsed = JSON.parse(presets || '{}') as Record<string, unknown>
      } catch {
        return Promise.reject(new Error(t('presetsJson')))
      }
      const label = step.name === 'label' && !skip
      return unwrap(
        api.POST('/api/v1/iterations/{iteration_id}/steps/{name}', {
          params: { path: { iteration_id: round.id, name: step.name } },
          body: {
            presets: label && how === 'label_studio' ? { ...parsed, label_studio: true } : parsed,
            skip: skip || (label && how === 'unlabeled'),
            merge_unlabeled: label && how === 'unlabeled',
            labeled_dataset_id: label && how === 'version' ? (labeled ?? null) : null,
          },
        }),
      )
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: keys.iterations.all }),
  })
  return (
    <Form layout="vertical" style={{ marginTop: 16 }}>
      <ErrorAlert error={run.error} />
      <Typography.Paragraph>{t(`help.${step.name}`)}</Typography.Paragraph>
      {step.name === 'label' && (
        <>
          <Form.Item label={t('labelHow')}>
            <Radio.Group value={how} onChange={(e) => setHow(e.target.value as LabelHow)} data-testid="label-how"
              options={(['label_studio', 'version', 'unlabeled'] as const).map((h) => ({ value: h, label: t(`labelHows.${h}`) }))} />
          </Form.Item>
          {how === 'version' && (
            <Form.Item label={t('labeledSet')}>
              <Select id="step_labeled_dataset_id" allowClear style={{ width: 300 }} options={datasets} value={labeled} onChange={setLabeled} />
            </Form.Item>
          )}
        </>
      )}
      <Form.Item label={t('presets')}>
        <Input.TextArea rows={4} value={presets} onChange={(e) => setPresets(e.target.value)} style={{ fontFamily: 'monospace' }} data-testid={`presets-${step.name}`} />
      </Form.Item>
      <Space>
        <Button type="primary" onClick={() => run.mutate(false)} loading={run.isPending} data-testid={`run-${step.name}`}>
          {t('run', { step: t(`steps.${step.name}`) })}
        </Button>
        {SKIPPABLE.has(step.name) && <Button onClick={() => run.mutate(true)} data-testid={`skip-${step.name}`}>{t('skip')}</Button>}
      </Space>
    </Form>
  )
}

function defaults(step: string): Record<string, unknown> {
  if (step === 'mining') return { topk: 100 }
  if (step === 'training') return { config: {} }
  return {}
}
