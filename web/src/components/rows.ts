import type { HTMLAttributes } from 'react'

/** `data-*` attributes for a table row (antd's onRow), so tests and styles can find a row by its name. */
export function rowData(attrs: Record<`data-${string}`, string>): HTMLAttributes<HTMLElement> {
  return attrs as HTMLAttributes<HTMLElement>
}

/** A ``data-testid`` for components whose props type has no room for it (antd's okButtonProps). */
export function testId(id: string): Record<string, never> {
  return { 'data-testid': id } as unknown as Record<string, never>
}
