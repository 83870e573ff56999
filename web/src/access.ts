// What the current user may see, as a pure function of the user (routes and menus read it).
export interface AccessUser {
  role: string
}

export interface Access {
  canAdmin: boolean
  canManageUsers: boolean
}

export function access(user: AccessUser | null | undefined): Access {
  const role = user?.role
  return {
    canAdmin: role === 'admin' || role === 'super_admin',
    canManageUsers: role === 'super_admin',
  }
}
