import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { API_ROUTES, allowedMethods } from '../../server/http/api-routes'

const apiDir = join(import.meta.dirname, '../../server/api')

/** server/api's route files as [path, method]: `[chatId]` -> `:id`, `index` dropped, no method suffix -> GET. */
function routeFiles(dir = apiDir): [string, string][] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = join(dir, entry.name)
    if (entry.isDirectory()) return routeFiles(file)
    if (entry.name === '[...].ts') return []
    const [, name, method = 'get'] = /^(.*?)(?:\.(get|post|patch|delete|put))?\.ts$/.exec(entry.name)!
    const segments = relative(apiDir, join(dir, name!)).split('/').filter(s => s !== 'index').map(s => /^\[.*\]$/.test(s) ? ':id' : s)
    return [[`/api/${segments.join('/')}`.replace(/\/$/, ''), method.toUpperCase()] as [string, string]]
  })
}

describe('the API route list (405 against 404)', () => {
  it('has every route file in server/api with its method, and nothing else', () => {
    const files = routeFiles()
    for (const [path, method] of files) expect(allowedMethods(path.replaceAll(':id', 'x1')), `${method} ${path}`).toContain(method)
    const listed = API_ROUTES.flatMap(([path, methods]) => methods.map(method => `${method} ${path}`)).sort()
    expect(listed).toEqual(files.map(([path, method]) => `${method} ${path}`).sort())
  })

  it('matches whole paths only', () => {
    expect(allowedMethods('/api/chats/abc/messages/def/stream?offset=3')).toEqual(['GET'])
    expect(allowedMethods('/api/chats/abc/messages/def/unknown')).toBeUndefined()
    expect(allowedMethods('/api/chatsx')).toBeUndefined()
  })
})
