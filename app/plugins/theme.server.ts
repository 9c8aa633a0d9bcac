/**
 * Applies the stored theme choice (ThemeToggle.vue, key `flume-theme`) to <html data-theme> from
 * a tiny blocking script in <head>, before the first paint: no flash of the wrong theme on load.
 * Without a choice (or without JavaScript) the system's preference applies through the CSS.
 */
const script = `try{var m=localStorage.getItem('flume-theme');`
  + `var d=m==='dark'||(m!=='light'&&matchMedia('(prefers-color-scheme: dark)').matches);`
  + `document.documentElement.setAttribute('data-theme',d?'dark':'light')}catch(e){}`

export default defineNuxtPlugin(() => {
  useHead({ script: [{ innerHTML: script, tagPosition: 'head', key: 'flume-theme' }] })
})
