// A bare fetch client for the test server's own tests: status and parsed body, nothing hidden.
export type Json = Record<string, unknown>
export interface Reply<T = Json> {
  status: number
  body: T
}
export const basic = (user: string, password: string): string => `Basic ${btoa(`${user}:${password}`)}`

/** `call(method, path, body?, headers?)`; headers default to `auth`, a string body is sent as is. */
export const client = (url: string, auth: { user: string; password: string }) => {
  return async <T = Json>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = { Authorization: basic(auth.user, auth.password) },
  ): Promise<Reply<T>> => {
    const res = await fetch(url + path, {
      method,
      headers: { "Content-Type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    })
    return { status: res.status, body: (await res.json()) as T }
  }
}
export type Call = ReturnType<typeof client>
