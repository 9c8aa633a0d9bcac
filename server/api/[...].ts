/**
 * API requests no route took: a known path asked with a method it does not answer is 405
 * `method_not_allowed` with `Allow` (HEAD goes with GET); anything else is 404, in JSON rather
 * than the app's HTML 404 page.
 */
export default defineEventHandler((event) => {
  const allowed = allowedMethods(event.path)
  if (!allowed) throw httpError(404, 'not_found', 'No such API route.')
  const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed
  setResponseHeader(event, 'allow', allow.join(', '))
  throw httpError(405, 'method_not_allowed', `This route answers ${allow.join(', ')}, not ${event.method}.`)
})
