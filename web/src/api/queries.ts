// Query keys (generic → specific) and queryOptions per resource, shared by pages and invalidation.
import { queryOptions } from '@tanstack/react-query'
import { api, unwrap } from './client'

export const keys = {
  me: ['me'] as const,
  labels: ['labels'] as const,
  projects: {
    all: ['projects'] as const,
    detail: (id: number) => ['projects', id] as const,
    stats: ['projects', 'stats'] as const,
  },
  datasets: {
    all: ['datasets'] as const,
    list: (pid: number) => ['datasets', 'list', pid] as const,
    groups: (pid: number) => ['datasets', 'groups', pid] as const,
    detail: (id: number) => ['datasets', 'detail', id] as const,
    assets: (id: number, filters: object) => ['datasets', 'assets', id, filters] as const,
    public: ['datasets', 'public'] as const,
  },
  models: {
    all: ['models'] as const,
    list: (pid: number) => ['models', 'list', pid] as const,
    groups: (pid: number) => ['models', 'groups', pid] as const,
    detail: (id: number) => ['models', 'detail', id] as const,
    evaluation: (id: number) => ['models', 'evaluation', id] as const,
  },
  iterations: { all: ['iterations'] as const, list: (pid: number) => ['iterations', pid] as const },
  tasks: { all: ['tasks'] as const, list: (filters: object) => ['tasks', filters] as const },
  images: ['images'] as const,
  users: ['users'] as const,
}

export const meQuery = queryOptions({
  queryKey: keys.me,
  queryFn: () => unwrap(api.GET('/api/v1/users/me')),
  staleTime: 60_000,
})

export const labelsQuery = queryOptions({
  queryKey: keys.labels,
  queryFn: () => unwrap(api.GET('/api/v1/labels')),
})

export const projectsQuery = queryOptions({
  queryKey: keys.projects.all,
  queryFn: () => unwrap(api.GET('/api/v1/projects', { params: { query: { limit: 200 } } })),
})

export const projectStatsQuery = queryOptions({
  queryKey: keys.projects.stats,
  queryFn: () => unwrap(api.GET('/api/v1/projects/stats')),
})

export const projectQuery = (id: number) =>
  queryOptions({
    queryKey: keys.projects.detail(id),
    queryFn: () => unwrap(api.GET('/api/v1/projects/{project_id}', { params: { path: { project_id: id } } })),
  })

export const datasetsQuery = (pid: number) =>
  queryOptions({
    queryKey: keys.datasets.list(pid),
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/projects/{project_id}/datasets', {
          params: { path: { project_id: pid }, query: { limit: 200 } },
        }),
      ),
  })

export const datasetGroupsQuery = (pid: number) =>
  queryOptions({
    queryKey: keys.datasets.groups(pid),
    queryFn: () =>
      unwrap(api.GET('/api/v1/projects/{project_id}/dataset-groups', { params: { path: { project_id: pid } } })),
  })

export const publicDatasetsQuery = queryOptions({
  queryKey: keys.datasets.public,
  queryFn: () => unwrap(api.GET('/api/v1/datasets/public', { params: { query: { limit: 200 } } })),
})

export const sharingQuery = (path: string) =>
  queryOptions({
    queryKey: ['sharing', path] as const,
    queryFn: () => unwrap(api.GET('/api/v1/sharing', { params: { query: { path, limit: 1000 } } })),
  })

export const datasetQuery = (id: number) =>
  queryOptions({
    queryKey: keys.datasets.detail(id),
    queryFn: () => unwrap(api.GET('/api/v1/datasets/{dataset_id}', { params: { path: { dataset_id: id } } })),
  })

export const modelsQuery = (pid: number) =>
  queryOptions({
    queryKey: keys.models.list(pid),
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/projects/{project_id}/models', {
          params: { path: { project_id: pid }, query: { limit: 200 } },
        }),
      ),
  })

export const modelGroupsQuery = (pid: number) =>
  queryOptions({
    queryKey: keys.models.groups(pid),
    queryFn: () =>
      unwrap(api.GET('/api/v1/projects/{project_id}/model-groups', { params: { path: { project_id: pid } } })),
  })

export const modelQuery = (id: number) =>
  queryOptions({
    queryKey: keys.models.detail(id),
    queryFn: () => unwrap(api.GET('/api/v1/models/{model_id}', { params: { path: { model_id: id } } })),
  })

export const modelEvaluationQuery = (id: number) =>
  queryOptions({
    queryKey: keys.models.evaluation(id),
    queryFn: () =>
      unwrap(api.GET('/api/v1/models/{model_id}/evaluation', { params: { path: { model_id: id } } })),
    retry: false,
  })

export const iterationsQuery = (pid: number) =>
  queryOptions({
    queryKey: keys.iterations.list(pid),
    queryFn: () =>
      unwrap(api.GET('/api/v1/projects/{project_id}/iterations', { params: { path: { project_id: pid } } })),
  })

export const tasksQuery = (filters: { project_id?: number }) =>
  queryOptions({
    queryKey: keys.tasks.list(filters),
    queryFn: () => unwrap(api.GET('/api/v1/tasks', { params: { query: { ...filters, limit: 100 } } })),
  })

export const imagesQuery = queryOptions({
  queryKey: keys.images,
  queryFn: () => unwrap(api.GET('/api/v1/images')),
})

export const usersQuery = queryOptions({
  queryKey: keys.users,
  queryFn: () => unwrap(api.GET('/api/v1/users', { params: { query: { limit: 200 } } })),
})
