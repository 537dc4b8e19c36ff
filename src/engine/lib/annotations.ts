import { MANIFEST_SOURCE } from "../../api/annotations.js";

/** The cert-manager.io annotation and label keys the engine reads and writes (cert-manager's own names, for adoption both ways). */
export const ANN = {
  certificateName: "cert-manager.io/certificate-name",
  issuerName: "cert-manager.io/issuer-name",
  issuerKind: "cert-manager.io/issuer-kind",
  issuerGroup: "cert-manager.io/issuer-group",
  commonName: "cert-manager.io/common-name",
  altNames: "cert-manager.io/alt-names",
  ipSans: "cert-manager.io/ip-sans",
  uriSans: "cert-manager.io/uri-sans",
  emailSans: "cert-manager.io/email-sans",
  subjectOrganizations: "cert-manager.io/subject-organizations",
  subjectOrganizationalUnits: "cert-manager.io/subject-organizationalunits",
  subjectCountries: "cert-manager.io/subject-countries",
  subjectProvinces: "cert-manager.io/subject-provinces",
  subjectLocalities: "cert-manager.io/subject-localities",
  subjectPostalCodes: "cert-manager.io/subject-postalcodes",
  subjectStreetAddresses: "cert-manager.io/subject-streetaddresses",
  subjectSerialNumber: "cert-manager.io/subject-serialnumber",
  certificateRevision: "cert-manager.io/certificate-revision",
  privateKeySecretName: "cert-manager.io/private-key-secret-name",
} as const;

export const LABEL = {
  /** Marks Secrets the controller manages (cert-manager's SecretsFilteredCaching). */
  fao: "controller.cert-manager.io/fao",
  nextPrivateKey: "cert-manager.io/next-private-key",
} as const;

/**
 * Annotation prefixes never copied from a Certificate to its CertificateRequests: cert-manager's
 * default list, plus the manifest loader's source marker. A request carrying that marker would look
 * like an object loaded from a file that no longer holds it, and the loader would delete it on its
 * next pass (after a restart: the pending request of every Certificate, issue 3's kill -9 test).
 */
export const UNCOPIED_ANNOTATION_PREFIXES = ["kubectl.kubernetes.io/", "fluxcd.io/", "argocd.argoproj.io/", MANIFEST_SOURCE] as const;
