/**
 * The webhook's groupName and solverName become path segments of the URL the
 * call goes to, so both are checked before any call: a DNS subdomain for the
 * API group and a lowercase resource name for the solver, as Kubernetes
 * requires of an APIService group and a resource.
 */

/** A DNS-1123 subdomain with at least one dot, as an API group is. */
export const GROUP_NAME_PATTERN =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$/;

/** A resource name: a DNS-1123 label (alidns-solver, rfc2136-test). */
export const SOLVER_NAME_PATTERN = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
