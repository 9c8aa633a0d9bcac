import { fileURLToPath } from 'node:url'

// Separate build/output dirs let a test run build while `nuxt dev` is running.
const buildDir = process.env.FLUME_BUILD_DIR
// The server's code, grouped along the token path; every folder's exports are auto-imported.
const serverDirs = ['generation', 'storage', 'http'].map(dir => fileURLToPath(new URL(`./server/${dir}/**/*`, import.meta.url)))
const outputDir = process.env.FLUME_OUTPUT_DIR

export default defineNuxtConfig({
  modules: ['@nuxt/eslint', '@vueuse/nuxt'],
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
  experimental: {
    // Its extra frame before each navigation (for INP on prerendered pages) delays a new chat's
    // first words by ~10-17 ms; our pages are not prerendered and a send has already painted.
    navigationRepaint: false,
  },
  nitro: {
    ...(outputDir ? { output: { dir: outputDir } } : {}),
    imports: { dirs: serverDirs },
    // API answers are never cached; the stream route sets its own SSE headers.
    routeRules: {
      '/api/**': { headers: { 'cache-control': 'no-store' } },
    },
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
    },
  },
  eslint: {
    config: { stylistic: true },
  },
})
