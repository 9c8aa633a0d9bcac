/** A year, subdomains included; no preload (that is a choice for the site's owner to make). */
const HSTS = 'max-age=31536000; includeSubDomains'

/**
 * Strict-Transport-Security on answers to https requests only: directly over TLS, or through a
 * proxy that says so in X-Forwarded-Proto (its first entry is the client's side). The header is
 * trusted from anyone because a forged one gains nothing: browsers ignore HSTS received over
 * plain http (RFC 6797, 8.1), and over plain http Flume sends it only to the forger.
 */
export default defineNitroPlugin((nitroApp) => {
  nitroApp.hooks.hook('request', (event) => {
    const forwarded = getRequestHeader(event, 'x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase()
    const tls = (event.node?.req?.socket as { encrypted?: boolean } | undefined)?.encrypted === true
    if (forwarded === 'https' || tls) setResponseHeader(event, 'strict-transport-security', HSTS)
  })
})
