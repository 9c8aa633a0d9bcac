import type { Primitive, Statement as Db0Statement } from 'db0'

export type Params = Primitive[]

/** db0's statement for Flume's own connectors: each driver says how to run it; binding is shared. */
export abstract class DriverStatement implements Db0Statement {
  bind(...params: Params) {
    return {
      bind: (...again: Params) => this.bind(...again),
      all: () => this.all(...params),
      run: () => this.run(...params),
      get: () => this.get(...params),
    }
  }

  abstract all(...params: Params): Promise<unknown[]>
  abstract run(...params: Params): Promise<{ success: boolean }>
  abstract get(...params: Params): Promise<unknown>
}
