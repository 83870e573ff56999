import { Button, Input, Table, Typography } from 'antd'
import { useTranslation } from 'react-i18next'
import type { TemplateRow } from './template'

/** The executor's template: each key with its default; values editable, keys can be added. */
export function TemplateEditor({ rows, onChange, errors }: { rows: TemplateRow[]; onChange: (rows: TemplateRow[]) => void; errors: Record<string, string> }) {
  const { t } = useTranslation('model')
  const set = (i: number, patch: Partial<TemplateRow>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)))
  return (
    <>
      <Table<TemplateRow>
        size="small"
        rowKey={(_, i) => String(i)}
        pagination={false}
        scroll={{ y: 320 }}
        dataSource={rows}
        columns={[
          {
            title: t('key'),
            dataIndex: 'key',
            width: 220,
            render: (k: string, r, i) => (r.default === undefined ? <Input size="small" value={k} onChange={(e) => set(i, { key: e.target.value })} /> : k),
          },
          {
            title: t('value'),
            dataIndex: 'value',
            render: (v: string, r, i) => (
              <>
                <Input size="small" value={v} status={errors[r.key] ? 'error' : undefined} onChange={(e) => set(i, { value: e.target.value })}
                  data-testid={`cfg-${r.key}`} />
                {errors[r.key] && (
                  <Typography.Text type="danger" data-testid="cfg-error">
                    {t(`mustBe.${errors[r.key]}`, { key: r.key })}
                  </Typography.Text>
                )}
              </>
            ),
          },
          { title: t('default'), dataIndex: 'default', width: 120, render: (d: unknown) => (d === undefined ? '—' : String(d)) },
        ]}
      />
      <Button size="small" style={{ marginTop: 8 }} onClick={() => onChange([...rows, { key: '', value: '', default: undefined }])}>
        {t('addKey')}
      </Button>
    </>
  )
}
