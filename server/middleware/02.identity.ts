/**
 * Every page and API request gets its identity cookie on first contact. Built assets do not need
 * one, nor do health checks: a load balancer's probe is nobody, and must not count as a new
 * visitor against its address's limit (server/http/limits.ts).
 */
export default defineEventHandler(async (event) => {
  const path = event.path
  if (path.startsWith('/_nuxt/') || path.startsWith('/__nuxt') || path === '/favicon.ico' || path === '/api/health') return
  await useIdentity(event)
})
