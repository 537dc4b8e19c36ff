export type { UnaryMethod } from "./method.js";
export { type UnaryH2Limits, UnaryH2Server } from "./server.js";
