import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { NuxtConfig } from 'nuxt/schema'

// The server's code, grouped along the token path; every folder's exports are auto-imported,
// except the drivers only server/platform/ imports: in `#imports` they would put pg and ioredis
// into every build, the worker's included.
const serverDirs = [
  ...['generation', 'storage', 'http'].map(dir => `./server/${dir}/**/*`),
  ...['storage/postgres', 'storage/sqlite', 'storage/d1', 'generation/redis-registry'].map(file => `!./server/${file}.ts`),
].map(glob => `${glob.startsWith('!') ? '!' : ''}${fileURLToPath(new URL(glob.replace(/^!/, ''), import.meta.url))}`)
// `npm run build:cloudflare` (NITRO_PRESET=cloudflare_module): D1, no disk, the edge run registry.
const cloudflare = (process.env.NITRO_PRESET || process.env.SERVER_PRESET || '').replace(/_/g, '-').startsWith('cloudflare')
// Separate build/output dirs let a test run build while `nuxt dev` is running, and keep the
// Cloudflare build apart from the Node one.
const buildDir = process.env.FLUME_BUILD_DIR || (cloudflare ? '.nuxt-cloudflare' : undefined)
const outputDir = process.env.FLUME_OUTPUT_DIR || (cloudflare ? '.output-cloudflare' : undefined)
// What differs per platform (storage, run registry, disk), picked at build time: server/platform/.
const platformModule = fileURLToPath(new URL(`./server/platform/${cloudflare ? 'cloudflare' : 'node'}.ts`, import.meta.url))

// Security headers (issue 9; docs/security.md). Pages get nuxt-security's per-request nonce
// ('nonce-{{nonce}}' below) on every <script>, <style> and <link> it renders.
const permissionsPolicy = {
  'camera': [], 'microphone': [], 'geolocation': [], 'display-capture': [], 'payment': [], 'usb': [],
  'serial': [], 'hid': [], 'midi': [], 'accelerometer': [], 'gyroscope': [],
  'magnetometer': [], 'publickey-credentials-get': [], 'fullscreen': [], 'browsing-topics': [],
}
/** The <style> VueUse's useColorMode (ThemeToggle.vue) adds for a moment to switch themes without transitions. */
const colorModeStyle = '*,*::before,*::after{-webkit-transition:none!important;-moz-transition:none!important;-o-transition:none!important;-ms-transition:none!important;transition:none!important}'
const colorModeStyleHash = `'sha256-${createHash('sha256').update(colorModeStyle).digest('base64')}'`
const pagePolicy = {
  'default-src': ['\'none\''],
  // The nonce'd entry script may load the app's chunks ('strict-dynamic'); 'self' is for
  // browsers without CSP 3. No 'unsafe-eval', no 'unsafe-inline' for scripts.
  'script-src': ['\'self\'', '\'nonce-{{nonce}}\'', '\'strict-dynamic\''],
  'script-src-attr': ['\'none\''],
  // <style> elements by nonce (or that one hash), stylesheets from the origin; style=""
  // attributes are needed by shiki (token colours), KaTeX (layout) and server-rendered inline
  // styles. 'style-src' is the fallback of browsers without style-src-elem/-attr.
  'style-src': ['\'self\'', '\'unsafe-inline\''],
  'style-src-elem': ['\'self\'', '\'nonce-{{nonce}}\'', colorModeStyleHash],
  'style-src-attr': ['\'unsafe-inline\''],
  // KaTeX's fonts: files from the origin, the smallest inlined by the build as data: URLs.
  'font-src': ['\'self\'', 'data:'],
  // blob: the previews of images attached in the composer (object URLs of the person's own files).
  'img-src': ['\'self\'', 'blob:'],
  // fetch and EventSource to the app's own API.
  'connect-src': ['\'self\''],
  'manifest-src': ['\'self\''],
  'base-uri': ['\'none\''],
  'form-action': ['\'self\''],
  'frame-ancestors': ['\'none\''],
  'object-src': ['\'none\''],
  // Off: it would break Flume served over plain http on a LAN, and every load is 'self' anyway.
  'upgrade-insecure-requests': false,
}
/** Non-HTML answers (API JSON, the stream): nothing may run or be framed if one is opened as a page. */
const apiHeaders = {
  'content-security-policy': 'default-src \'none\'; frame-ancestors \'none\'',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': Object.keys(permissionsPolicy).map(feature => `${feature}=()`).join(', '),
}

const securityOptions = {
  nonce: true,
  headers: {
    contentSecurityPolicy: pagePolicy,
    permissionsPolicy,
    xFrameOptions: 'DENY',
    referrerPolicy: 'strict-origin-when-cross-origin',
    // Sent only to https requests, by server/plugins/hsts.ts (nuxt-security's is static).
    strictTransportSecurity: false,
  },
  // Flume has its own limits, origin check and error codes (CONTRACT.md): 413 too_large,
  // 403 forbidden_origin, 405 method_not_allowed, 429 rate_limited, all in its JSON shape.
  rateLimiter: false,
  requestSizeLimiter: false,
  xssValidator: false,
  corsHandler: false,
  allowedMethodsRestricter: false,
  csrf: false,
  basicAuth: false,
  // Not a header: it would strip console calls from the client build.
  removeLoggers: false,
} satisfies NuxtConfig['security']

export default defineNuxtConfig({
  modules: ['@nuxt/eslint', '@vueuse/nuxt', 'nuxt-security'],
  devtools: { enabled: false },
  compatibilityDate: '2026-11-01',
  telemetry: false,
  ...(buildDir ? { buildDir } : {}),
  app: {
    head: {
      htmlAttrs: { lang: 'en' },
      title: 'Flume',
      meta: [
        { name: 'viewport', content: 'width=device-width, initial-scale=1' },
        { name: 'description', content: 'Chat with any OpenAI-compatible model, streamed token by token.' },
      ],
    },
  },
  css: ['~/assets/main.css'],
  alias: { '#flume/platform': platformModule },
  experimental: {
    // Its extra frame before each navigation (for INP on prerendered pages) delays a new chat's
    // first words by ~10-17 ms; our pages are not prerendered and a send has already painted.
    navigationRepaint: false,
  },
  nitro: {
    ...(outputDir ? { output: { dir: outputDir } } : {}),
    imports: { dirs: serverDirs },
    // /api/ws (docs/websocket.md). Off on Cloudflare: there the route answers 404.
    experimental: { websocket: !cloudflare },
    ...(cloudflare
      ? {
          cloudflare: {
            // Nitro writes <output>/server/wrangler.json (main, assets) with this merged in.
            deployConfig: true,
            nodeCompat: true,
            wrangler: {
              name: 'flume',
              compatibility_flags: ['nodejs_compat'],
              // `wrangler d1 create flume` gives the real id (README, Deploy > Cloudflare).
              d1_databases: [{ binding: 'DB', database_name: 'flume', database_id: process.env.FLUME_D1_DATABASE_ID || 'flume-local' }],
              observability: { enabled: true },
            },
          },
        }
      : {}),
    // Built assets as .gz and .br next to each file; `npm start` serves the one the browser accepts.
    compressPublicAssets: { gzip: true, brotli: true },
    // Pages hold a person's chats and API answers are theirs: never stored by a browser or a
    // proxy. Built assets (/_nuxt/**, Nuxt's own rule) keep a year of immutable caching. The
    // stream route sets its own SSE cache-control.
    routeRules: {
      '/**': { headers: { 'cache-control': 'private, no-store' } },
      '/api/**': { headers: { 'cache-control': 'no-store', ...apiHeaders } },
    },
  },
  vite: {
    // The worker has no room for shiki's grammars and KaTeX (~10 MB of the Node server): on
    // Cloudflare answers are highlighted and typeset in the browser only.
    define: { __FLUME_SSR_RICH__: JSON.stringify(!cloudflare) },
  },
  typescript: {
    strict: true,
    typeCheck: false,
  },
  hooks: {
    // API errors in the contract's JSON shape first; Nuxt's handler (error pages) after it.
    'nitro:config'(config) {
      const theirs = [config.errorHandler ?? []].flat()
      config.errorHandler = [fileURLToPath(new URL('./server/error.ts', import.meta.url)), ...theirs]
      // nuxt-security adds a middleware for each of its request checks even when it is turned off
      // in securityOptions, and each would resolve its per-request rules on every request: drop those.
      const off = new Set(Object.entries(securityOptions).filter(([, value]) => value === false).map(([key]) => key))
      config.handlers = config.handlers?.filter((entry) => {
        const check = /nuxt-security\/dist\/runtime\/server\/middleware\/(\w+)/.exec(entry?.handler ?? '')?.[1]
        return !check || !off.has(check)
      })
    },
  },
  eslint: {
    config: { stylistic: true },
  },
  security: securityOptions,
})
