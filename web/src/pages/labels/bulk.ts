// The bulk-add text: one label per line, its aliases after commas ("car, auto, automobile").
import { splitList } from '../../components/forms'

export interface BulkLabels {
  labels: { name: string; aliases: string[] }[]
  /** labels[i] came from line lines[i] (1-based; blank lines are skipped) */
  lines: number[]
}

export function parseBulkLabels(text: string): BulkLabels {
  const out: BulkLabels = { labels: [], lines: [] }
  text.split('\n').forEach((line, i) => {
    const [name, ...aliases] = splitList(line.replace(/，/g, ','))
    if (!name) return
    out.labels.push({ name, aliases })
    out.lines.push(i + 1)
  })
  return out
}
