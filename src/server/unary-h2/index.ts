export type { UnaryMethod } from "./lib/unary-call.js";
export { type UnaryH2Limits, UnaryH2Server } from "./server.js";
