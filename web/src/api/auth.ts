// The signed-in user's tokens, kept in localStorage so a reload stays signed in.
const KEY = 'ymir.tokens'

export interface Tokens {
  access_token: string
  refresh_token: string
}

export function getTokens(): Tokens | null {
  const raw = localStorage.getItem(KEY)
  if (!raw) return null
  try {
    return JSON.parse(raw) as Tokens
  } catch {
    return null
  }
}

export function setTokens(tokens: Tokens | null): void {
  if (tokens) localStorage.setItem(KEY, JSON.stringify(tokens))
  else localStorage.removeItem(KEY)
}
