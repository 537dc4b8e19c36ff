/**
 * Annotation and label keys with meaning to cert-manager (and so to meshsign,
 * which reads and writes them identically so that Secrets and requests written
 * by one are adopted by the other without re-issuance).
 * Sources: cert-manager `pkg/apis/certmanager/v1/types.go`, `pkg/apis/acme/v1/types.go`.
 */

// --- On the target Secret (written by the issuing step; values from the issued X.509) ---
export const CERTIFICATE_NAME = "cert-manager.io/certificate-name";
export const ISSUER_NAME = "cert-manager.io/issuer-name";
export const ISSUER_KIND = "cert-manager.io/issuer-kind";
export const ISSUER_GROUP = "cert-manager.io/issuer-group";
export const COMMON_NAME = "cert-manager.io/common-name";
/** Comma-separated DNS SANs. */
export const ALT_NAMES = "cert-manager.io/alt-names";
export const IP_SANS = "cert-manager.io/ip-sans";
export const URI_SANS = "cert-manager.io/uri-sans";
export const EMAIL_SANS = "cert-manager.io/email-sans";
export const SUBJECT_ORGANIZATIONS = "cert-manager.io/subject-organizations";
export const SUBJECT_ORGANIZATIONAL_UNITS = "cert-manager.io/subject-organizationalunits";
export const SUBJECT_COUNTRIES = "cert-manager.io/subject-countries";
export const SUBJECT_PROVINCES = "cert-manager.io/subject-provinces";
export const SUBJECT_LOCALITIES = "cert-manager.io/subject-localities";
export const SUBJECT_POSTAL_CODES = "cert-manager.io/subject-postalcodes";
export const SUBJECT_STREET_ADDRESSES = "cert-manager.io/subject-streetaddresses";
export const SUBJECT_SERIAL_NUMBER = "cert-manager.io/subject-serialnumber";

// --- On CertificateRequests ---
/** The Certificate revision a request is for (decimal string). */
export const CERTIFICATE_REVISION = "cert-manager.io/certificate-revision";
/** Name of the Secret holding the private key of the request (next-private-key Secret). */
export const PRIVATE_KEY_SECRET_NAME = "cert-manager.io/private-key-secret-name";
/** Prefix of the annotations cert-manager puts on CertificateRequests. */
export const CERTIFICATE_REQUEST_PREFIX = "certificaterequest.cert-manager.io/";

// --- On Certificates ---
/** "true": write a temporary certificate while the request is pending. */
export const ISSUE_TEMPORARY_CERTIFICATE = "cert-manager.io/issue-temporary-certificate";

// --- ingress-shim / gateway-shim annotations (on Ingress and Gateway objects) ---
export const SHIM_ISSUER = "cert-manager.io/issuer";
export const SHIM_CLUSTER_ISSUER = "cert-manager.io/cluster-issuer";
export const SHIM_ISSUER_KIND = "cert-manager.io/issuer-kind";
export const SHIM_ISSUER_GROUP = "cert-manager.io/issuer-group";
export const SHIM_COMMON_NAME = "cert-manager.io/common-name";
export const SHIM_DURATION = "cert-manager.io/duration";
export const SHIM_RENEW_BEFORE = "cert-manager.io/renew-before";
export const SHIM_RENEW_BEFORE_PERCENTAGE = "cert-manager.io/renew-before-percentage";
export const SHIM_USAGES = "cert-manager.io/usages";
export const SHIM_REVISION_HISTORY_LIMIT = "cert-manager.io/revision-history-limit";
export const SHIM_PRIVATE_KEY_ALGORITHM = "cert-manager.io/private-key-algorithm";
export const SHIM_PRIVATE_KEY_ENCODING = "cert-manager.io/private-key-encoding";
export const SHIM_PRIVATE_KEY_SIZE = "cert-manager.io/private-key-size";
export const SHIM_PRIVATE_KEY_ROTATION_POLICY = "cert-manager.io/private-key-rotation-policy";
export const SHIM_EMAIL_SANS = "cert-manager.io/email-sans";
export const SHIM_SUBJECT_ORGANIZATIONS = "cert-manager.io/subject-organizations";
export const SHIM_SUBJECT_ORGANIZATIONAL_UNITS = "cert-manager.io/subject-organizationalunits";
export const SHIM_SUBJECT_COUNTRIES = "cert-manager.io/subject-countries";
export const SHIM_SUBJECT_PROVINCES = "cert-manager.io/subject-provinces";
export const SHIM_SUBJECT_LOCALITIES = "cert-manager.io/subject-localities";
export const SHIM_SUBJECT_POSTAL_CODES = "cert-manager.io/subject-postalcodes";
export const SHIM_SUBJECT_STREET_ADDRESSES = "cert-manager.io/subject-streetaddresses";
export const SHIM_SUBJECT_SERIAL_NUMBER = "cert-manager.io/subject-serialnumber";
/** JSON of a Certificate `secretTemplate` (`{"labels": {...}, "annotations": {...}}`). */
export const SHIM_SECRET_TEMPLATE = "cert-manager.io/secret-template";
/** "true" on an Ingress: make a Certificate with the default issuer (`--auto-certificate-annotations`). */
export const SHIM_TLS_ACME = "kubernetes.io/tls-acme";
/** "true": the HTTP-01 solver edits the Ingress itself (the Certificate gets the override-ingress-name annotation). */
export const SHIM_ACME_HTTP01_EDIT_IN_PLACE = "acme.cert-manager.io/http01-edit-in-place";
/** Overrides the solver's `http01.ingress.class` for this Ingress's Certificates. */
export const SHIM_ACME_HTTP01_INGRESS_CLASS = "acme.cert-manager.io/http01-ingress-class";
/** Overrides the solver's `http01.ingress.ingressClassName` for this Ingress's Certificates. */
export const SHIM_ACME_HTTP01_INGRESS_CLASS_NAME = "acme.cert-manager.io/http01-ingress-ingressclassname";

// --- cainjector ---
export const ALLOW_DIRECT_INJECTION = "cert-manager.io/allow-direct-injection";
export const INJECT_CA_FROM = "cert-manager.io/inject-ca-from";
export const INJECT_CA_FROM_SECRET = "cert-manager.io/inject-ca-from-secret";

// --- ACME HTTP-01 overrides (on Certificates and Orders) ---
export const ACME_HTTP01_OVERRIDE_INGRESS_NAME = "acme.cert-manager.io/http01-override-ingress-name";
export const ACME_HTTP01_OVERRIDE_INGRESS_CLASS = "acme.cert-manager.io/http01-override-ingress-class";
export const ACME_HTTP01_OVERRIDE_INGRESS_CLASS_NAME =
  "acme.cert-manager.io/http01-override-ingress-ingressclassname";
export const ACME_HTTP01_PARENT_REF_NAME = "acme.cert-manager.io/http01-parentrefname";
export const ACME_HTTP01_PARENT_REF_KIND = "acme.cert-manager.io/http01-parentrefkind";
export const ACME_HTTP01_PARENT_REF_NAMESPACE = "acme.cert-manager.io/http01-parentrefnamespace";
/** Finalizer on Challenges (cleanup of presented records). */
export const ACME_CHALLENGE_FINALIZER = "acme.cert-manager.io/finalizer";
/** Legacy spelling of {@link ACME_CHALLENGE_FINALIZER}, still honoured on read. */
export const ACME_CHALLENGE_FINALIZER_LEGACY = "finalizer.acme.cert-manager.io";

// --- Labels ---
/** On the next-private-key Secret staged while issuing. */
export const NEXT_PRIVATE_KEY_LABEL = "cert-manager.io/next-private-key";
/** On every Secret cert-manager writes ("for any operation"); used to filter the Secret cache. */
export const FAO_LABEL = "controller.cert-manager.io/fao";
/** On generated ACME account-key Secrets (value "cert-manager"). */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";

/** Annotation prefixes never copied from a Certificate to its requests and orders. */
export const NON_COPIED_ANNOTATION_PREFIXES: readonly string[] = [
  "kubectl.kubernetes.io/",
  "fluxcd.io/",
  "argocd.argoproj.io/",
];

/** Prefix reserved to cert-manager: forbidden in `secretTemplate.annotations`. */
export const CERT_MANAGER_ANNOTATION_PREFIX = "cert-manager.io/";

// --- meshsign's own ---
/** On objects created by the standalone manifest loader: the source file (relative to the manifest dir). */
export const MANIFEST_SOURCE = "meshsign.io/manifest-source";
/**
 * On a Certificate a shim made for a source in another namespace (an Istio Gateway whose Secret lives
 * where the gateway deployment runs), where an ownerReference cannot point:
 * `<apiVersion>/<kind>/<namespace>/<name>/<uid>` of the source.
 */
export const SHIM_SOURCE = "meshsign.io/shim-source";
