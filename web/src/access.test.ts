import { describe, expect, it } from 'vitest'
import { access } from './access'

describe('access', () => {
  it('a user sees no admin page', () => {
    expect(access({ role: 'user' })).toEqual({ canAdmin: false, canManageUsers: false })
  })
  it('an admin manages images but not users', () => {
    expect(access({ role: 'admin' })).toEqual({ canAdmin: true, canManageUsers: false })
  })
  it('the super admin manages both', () => {
    expect(access({ role: 'super_admin' })).toEqual({ canAdmin: true, canManageUsers: true })
  })
  it('nobody signed in sees nothing', () => {
    expect(access(null)).toEqual({ canAdmin: false, canManageUsers: false })
  })
})
