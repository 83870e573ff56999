import type { ReactNode } from 'react'
import { Space, Typography } from 'antd'

/** A page's title on the left and its main buttons (``children``) on the right. */
export function PageHeader({ title, children }: { title: ReactNode; children?: ReactNode }) {
  return (
    <Space style={{ width: '100%', justifyContent: 'space-between', marginBottom: 16 }}>
      <Typography.Title level={3} style={{ margin: 0 }}>
        {title}
      </Typography.Title>
      {children}
    </Space>
  )
}
