import { useState } from 'react'
import { Breadcrumb, Button, Card, List, Tag, Typography } from 'antd'
import { useQuery } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { sharingQuery } from '../../api/queries'
import { ErrorAlert } from '../../components/ErrorAlert'

/**
 * The server's sharing folder, browsed folder by folder: open a folder, or choose one that holds
 * images/ (importable as it is). Files are counted, never listed one by one.
 */
export function SharingBrowser({ onPick }: { onPick: (path: string) => void }) {
  const { t } = useTranslation('dataset')
  const [path, setPath] = useState('')
  const listing = useQuery(sharingQuery(path))
  const parts = path ? path.split('/') : []
  const folders = (listing.data?.items ?? []).filter((e) => e.is_dir)
  return (
    <Card size="small" style={{ marginBottom: 16 }} data-testid="sharing-browser"
      title={
        <Breadcrumb
          items={[
            { title: <a onClick={() => setPath('')}>{t('sharingRoot')}</a> },
            ...parts.map((p, i) => ({ title: <a onClick={() => setPath(parts.slice(0, i + 1).join('/'))}>{p}</a> })),
          ]}
        />
      }
      extra={path && <Button size="small" onClick={() => onPick(path)} data-testid="pick-this">{t('pickThis')}</Button>}
    >
      <ErrorAlert error={listing.error} testId="sharing-error" />
      <List
        size="small"
        loading={listing.isPending}
        dataSource={folders}
        locale={{ emptyText: listing.data ? t('sharingEmpty', { folder: listing.data.folder }) : ' ' }}
        style={{ maxHeight: 240, overflow: 'auto' }}
        renderItem={(e) => (
          <List.Item
            data-testid="sharing-entry"
            actions={[
              e.images_folder && (
                <Button size="small" type="link" onClick={() => onPick(e.path)} data-testid="pick-folder">
                  {t('pick')}
                </Button>
              ),
            ]}
          >
            <a onClick={() => setPath(e.path)}>📁 {e.name}</a>
            <span>
              {e.images_folder && <Tag color="green">{t('importable')}</Tag>}
              <Typography.Text type="secondary">{t('filesInside', { count: e.files ?? 0 })}</Typography.Text>
            </span>
          </List.Item>
        )}
      />
    </Card>
  )
}
