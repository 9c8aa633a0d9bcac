// Built into the server from node_modules by Nitro's `raw:` imports (its rollup raw plugin, which
// has no types): the page needs no CDN and the files match the installed versions. Relative
// paths: Nitro's externals plugin would turn a package name (or an alias) into an external import.
// @ts-expect-error untyped raw: import
import htmxJs from 'raw:../../../node_modules/htmx.org/dist/htmx.min.js'
// @ts-expect-error untyped raw: import
import sseJs from 'raw:../../../node_modules/htmx-ext-sse/dist/sse.min.js'

const PAGE_CSS = `body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1f2328;background:#fff}
main{max-width:46rem;margin:0 auto;padding:1rem}
h1{font-size:1.25rem;margin:0}h1 a{color:inherit;text-decoration:none}.title{color:#59636e;margin:0}
article{margin:.75rem 0;padding:.5rem .75rem;border-radius:.5rem}
article[data-role=user]{background:#eef2ff}
.content{white-space:pre-wrap;overflow-wrap:anywhere}
.flume-error{color:#b42318;white-space:normal;margin:.5rem 0 0}.flume-stopped{color:#59636e;margin:.5rem 0 0}
form{display:grid;gap:.5rem;margin-top:1rem}textarea{font:inherit;padding:.5rem}button{justify-self:end;font:inherit;padding:.25rem 1rem}
.htmx-request button{opacity:.5}
`

/**
 * After an HTTP error (a 503 from an instance shutting down, a 429), htmx's SSE extension opens a
 * new EventSource on the sse-connect URL, which would send the text from that URL's offset again.
 * This makes it resume from the last event's id instead (docs/htmx.md).
 */
const RESUME_JS = `(function () {
  var last = new Map()
  htmx.createEventSource = function (url) {
    var id = last.get(url)
    var from = id === undefined
      ? url
      : /[?&]offset=\\d+/.test(url) ? url.replace(/([?&]offset=)\\d+/, '$1' + id) : url + (url.indexOf('?') < 0 ? '?' : '&') + 'offset=' + id
    var source = new EventSource(from, { withCredentials: true })
    var remember = function (event) {
      if (event.lastEventId) last.set(url, event.lastEventId)
    }
    source.addEventListener('message', remember)
    source.addEventListener('done', remember)
    return source
  }
})()
`

const ASSETS: Record<string, { type: string, body: string }> = {
  'htmx.min.js': { type: 'text/javascript; charset=utf-8', body: htmxJs },
  'sse.min.js': { type: 'text/javascript; charset=utf-8', body: sseJs },
  'resume.js': { type: 'text/javascript; charset=utf-8', body: RESUME_JS },
  'page.css': { type: 'text/css; charset=utf-8', body: PAGE_CSS },
}

/** htmx, its SSE extension and the page's stylesheet, for /htmx (docs/htmx.md). */
export default defineEventHandler((event) => {
  const name = getRouterParam(event, 'asset') ?? ''
  const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name]! : undefined
  if (!asset) throw createError({ status: 404, statusText: 'Not Found' })
  setResponseHeaders(event, {
    'content-type': asset.type,
    'cache-control': 'public, max-age=3600',
    'cross-origin-resource-policy': 'same-origin',
  })
  return asset.body
})
