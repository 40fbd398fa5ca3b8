// roles.js — who sees which page and which action button. The server checks every route's
// roles itself (routes.c); these only keep the page free of buttons that would be refused.

export const ROLES_ALL = ['staff', 'assistant', 'supervisor', 'operations'];
export const ROLES_SUP_OPS = ['supervisor', 'operations'];
export const ROLES_DESK = ['staff', 'supervisor', 'operations'];
export const ROLES_DESK_ACT = ['staff', 'supervisor']; // lock, complete, release, resolve
export const ROLES_REPLAY = ['supervisor', 'operations'];

export const isSupervisor = (user) => !!user && user.role === 'supervisor';
export const can = (user, roles) => !!user && roles.includes(user.role);
