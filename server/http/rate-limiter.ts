// Every tsconfig that reaches this file (server, app, tests) needs the declaration of these imports.
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="../types/rate-limiter-flexible.d.ts" />
import type * as Flexible from 'rate-limiter-flexible'
// The four classes the limits use, by file: the package's index loads every store it supports
// (MongoDB, MySQL, node:cluster, ...), which would all go into the server and the worker.
import Bursty from 'rate-limiter-flexible/lib/BurstyRateLimiter.js'
import Memory from 'rate-limiter-flexible/lib/RateLimiterMemory.js'
import Redis from 'rate-limiter-flexible/lib/RateLimiterRedis.js'
import Res from 'rate-limiter-flexible/lib/RateLimiterRes.js'

export const BurstyRateLimiter = Bursty as typeof Flexible.BurstyRateLimiter
export const RateLimiterMemory = Memory as typeof Flexible.RateLimiterMemory
export const RateLimiterRedis = Redis as typeof Flexible.RateLimiterRedis
export const RateLimiterRes = Res as typeof Flexible.RateLimiterRes
export type RateLimiterAbstract = Flexible.RateLimiterAbstract
export type BurstyRateLimiter = Flexible.BurstyRateLimiter
