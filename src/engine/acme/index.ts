/**
 * The engine's ACME controllers (Orders, Challenges, their scheduler) and
 * the request signer ACME issuers sign through.
 */

export {
  ChallengeController,
  type Dns01Propagation,
  type Http01RoutesOptions,
  type Http01SelfCheckOptions,
} from "./challenge-controller.js";
export { AcmeControllers, type AcmeControllersDeps, type AcmeOptions } from "./controllers.js";
export { dnsPropagation } from "./dns01-propagation.js";
export { CHALLENGE_FINALIZER, DEFAULT_ORDER_TIMEOUT_MS, OrderController } from "./order-controller.js";
export { AcmeRequestSigner } from "./request-signer.js";
