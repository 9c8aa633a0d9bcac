/**
 * Every API route with the methods it answers, so that a known path asked with another method is
 * 405 `method_not_allowed` (with `Allow`), not 404 (server/api/[...].ts). tests/unit/api-routes.test.ts
 * checks this list against the files in server/api/.
 */
export const API_ROUTES: readonly (readonly [path: string, methods: readonly string[]])[] = [
  ['/api/attachments', ['POST']],
  ['/api/attachments/:id', ['GET', 'DELETE']],
  ['/api/chats', ['GET', 'POST']],
  ['/api/chats/:id', ['GET', 'PATCH', 'DELETE']],
  ['/api/chats/:id/messages', ['POST']],
  ['/api/chats/:id/messages/:id/continue', ['POST']],
  ['/api/chats/:id/messages/:id/edit', ['POST']],
  ['/api/chats/:id/messages/:id/retry', ['POST']],
  ['/api/chats/:id/messages/:id/stop', ['POST']],
  ['/api/chats/:id/messages/:id/stream', ['GET']],
  ['/api/chat', ['POST']],
  ['/api/chat/:id', ['GET']],
  ['/api/chat/:id/stop', ['POST']],
  ['/api/chat/:id/stream', ['GET']],
  ['/api/health', ['GET']],
  ['/api/models', ['GET']],
  ['/api/ws', ['GET']],
]

const matchers = API_ROUTES.map(([path, methods]) => [new RegExp(`^${path.replaceAll(':id', '[^/]+')}/?$`), methods] as const)

/** The methods `path` answers, or undefined when no API route has that path. */
export function allowedMethods(path: string): readonly string[] | undefined {
  const bare = path.split('?')[0]!
  return matchers.find(([pattern]) => pattern.test(bare))?.[1]
}
