import enCommon from '../locales/en/common.json'
import enMenu from '../locales/en/menu.json'
import enAuth from '../locales/en/auth.json'
import enProject from '../locales/en/project.json'
import enLabel from '../locales/en/label.json'
import enDataset from '../locales/en/dataset.json'
import enAsset from '../locales/en/asset.json'
import enModel from '../locales/en/model.json'
import enTask from '../locales/en/task.json'
import enAdmin from '../locales/en/admin.json'
import enIteration from '../locales/en/iteration.json'
import enErrors from '../locales/en/errors.json'
import zhCommon from '../locales/zh/common.json'
import zhMenu from '../locales/zh/menu.json'
import zhAuth from '../locales/zh/auth.json'
import zhProject from '../locales/zh/project.json'
import zhLabel from '../locales/zh/label.json'
import zhDataset from '../locales/zh/dataset.json'
import zhAsset from '../locales/zh/asset.json'
import zhModel from '../locales/zh/model.json'
import zhTask from '../locales/zh/task.json'
import zhAdmin from '../locales/zh/admin.json'
import zhIteration from '../locales/zh/iteration.json'
import zhErrors from '../locales/zh/errors.json'

export const resources = {
  en: {
    common: enCommon, menu: enMenu, auth: enAuth, project: enProject, label: enLabel, dataset: enDataset,
    asset: enAsset, model: enModel, task: enTask, admin: enAdmin, iteration: enIteration, errors: enErrors,
  },
  zh: {
    common: zhCommon, menu: zhMenu, auth: zhAuth, project: zhProject, label: zhLabel, dataset: zhDataset,
    asset: zhAsset, model: zhModel, task: zhTask, admin: zhAdmin, iteration: zhIteration, errors: zhErrors,
  },
} as const

export type Language = keyof typeof resources
export const LANGUAGES: { code: Language; name: string }[] = [
  { code: 'en', name: 'English' },
  { code: 'zh', name: '简体中文' },
]
