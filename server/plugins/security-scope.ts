/**
 * nuxt-security's runtime is for pages: it puts a nonce on the tags a page renders and sends the
 * page's CSP. Its hooks run on every request, though, and on each one they resolve the route's
 * rules by cloning the whole configuration into a new router and draw a nonce: on the API and
 * the stream that was about a fifth of the server's CPU in a burst of new answers
 * (`npm run bench:burst -- --only C`). API answers and built assets get their headers from route
 * rules (nuxt.config.ts), so here they get nuxt-security's per-request rules resolved to
 * "disabled" before its hooks look (our plugins run first; it caches the rules in
 * `event.context.security.rules`, as of nuxt-security 2.6). Pages keep its full treatment.
 */
const DISABLED = Object.freeze({ enabled: false })

export default defineNitroPlugin((nitroApp) => {
  nitroApp.hooks.hook('request', (event) => {
    const path = event.path
    if (path.startsWith('/api/') || path.startsWith('/_nuxt/')) event.context.security = { rules: DISABLED }
  })
})
