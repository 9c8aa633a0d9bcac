/** Unknown API paths answer JSON, not the app's HTML 404 page. */
export default defineEventHandler(() => {
  throw httpError(404, 'not_found', 'No such API route.')
})
