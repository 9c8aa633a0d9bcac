// rate-limiter-flexible types only its index; server/http/rate-limiter.ts imports single files and
// gives them the index's types.
declare module 'rate-limiter-flexible/lib/*.js' {
  const value: unknown
  export default value
}
