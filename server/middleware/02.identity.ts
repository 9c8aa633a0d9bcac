/** Every page and API request gets its identity cookie on first contact; built assets do not need one. */
export default defineEventHandler(async (event) => {
  const path = event.path
  if (path.startsWith('/_nuxt/') || path.startsWith('/__nuxt') || path === '/favicon.ico') return
  await useIdentity(event)
})
