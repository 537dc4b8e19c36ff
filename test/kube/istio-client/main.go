// Command istio-client asks a CA for a workload certificate exactly as
// istio-agent does: the CSR comes from Istio's pkiutil.GenCSR for the SPIFFE
// identity spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>, and
// the request goes through Istio's own Citadel CA client
// (security/pkg/nodeagent/caclient/providers/citadel) with the token read
// from a file by Istio's JWT credential fetcher, over TLS checked against a
// root certificate file, with the ClusterID metadata header.
//
// On success it prints JSON to stdout:
//
//	{"identity": "...", "certChain": ["<leaf PEM>", ..., "<root PEM>"], "publicKeyPem": "..."}
//
// The generated private key never leaves the process. On failure it prints
// {"error": "...", "code": "<gRPC code name>"} to stderr and exits 1 (2 for
// bad flags).
package main

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	"istio.io/istio/pkg/security"
	"istio.io/istio/pkg/spiffe"
	"istio.io/istio/security/pkg/credentialfetcher"
	"istio.io/istio/security/pkg/nodeagent/caclient/providers/citadel"
	pkiutil "istio.io/istio/security/pkg/pki/util"
)

type headers map[string]string

func (h headers) String() string { return fmt.Sprint(map[string]string(h)) }

func (h headers) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("header %q is not name=value", v)
	}
	h[k] = val
	return nil
}

type result struct {
	Identity     string   `json:"identity"`
	CertChain    []string `json:"certChain"`
	PublicKeyPem string   `json:"publicKeyPem"`
}

type failure struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

func main() {
	caHeaders := headers{}
	addr := flag.String("addr", "", "CA address host:port (required)")
	rootCert := flag.String("root-cert", "", "PEM file with the roots that verify the CA's serving certificate (required)")
	tokenFile := flag.String("token-file", "", "file holding the workload's service-account JWT (empty: no token)")
	clusterID := flag.String("cluster-id", "Kubernetes", "ClusterID sent as gRPC metadata")
	trustDomain := flag.String("trust-domain", "cluster.local", "SPIFFE trust domain")
	namespace := flag.String("namespace", "default", "workload namespace")
	serviceAccount := flag.String("service-account", "default", "workload service account")
	keyType := flag.String("key-type", "rsa2048", "key to generate: rsa2048, rsa3072, rsa4096, ec256, ec384")
	ttl := flag.Int64("ttl", 86400, "requested validity in seconds")
	caSAN := flag.String("ca-san", "", "server name to verify in the CA's certificate (default: the host of -addr)")
	certSigner := flag.String("cert-signer", "", "CertSigner metadata (Istio's per-request signer selection)")
	pkcs8 := flag.Bool("pkcs8", false, "encode the generated key as PKCS#8 (as istio-agent's PKCS8_KEY)")
	certChain := flag.String("cert-chain", "", "PEM file with a mesh certificate chain to present over mTLS (leaf first, as istio-agent's cert-chain.pem); needs -key")
	certKey := flag.String("key", "", "PEM file with the private key of -cert-chain")
	flag.Var(caHeaders, "header", "extra CA request header name=value (repeatable, as CA_HEADERS)")
	flag.Parse()

	if *addr == "" || *rootCert == "" {
		fmt.Fprintln(os.Stderr, "istio-client: -addr and -root-cert are required")
		flag.Usage()
		os.Exit(2)
	}

	opts := &security.Options{
		CAEndpoint:    *addr,
		CAEndpointSAN: *caSAN,
		ClusterID:     *clusterID,
		TrustDomain:   *trustDomain,
		CertSigner:    *certSigner,
		CAHeaders:     caHeaders,
	}
	// istio-agent's default: a JWT credential fetcher reading the projected token file.
	fetcher, err := credentialfetcher.NewCredFetcher(security.JWT, *trustDomain, *tokenFile, "")
	if err != nil {
		fail(err)
	}
	opts.CredFetcher = fetcher

	certOpts := pkiutil.CertOptions{PKCS8Key: *pkcs8}
	switch *keyType {
	case "rsa2048":
		certOpts.RSAKeySize = 2048
	case "rsa3072":
		certOpts.RSAKeySize = 3072
	case "rsa4096":
		certOpts.RSAKeySize = 4096
	case "ec256":
		certOpts.ECSigAlg = pkiutil.EcdsaSigAlg
		certOpts.ECCCurve = pkiutil.P256Curve
	case "ec384":
		certOpts.ECSigAlg = pkiutil.EcdsaSigAlg
		certOpts.ECCCurve = pkiutil.P384Curve
	default:
		fmt.Fprintf(os.Stderr, "istio-client: unknown -key-type %q\n", *keyType)
		os.Exit(2)
	}
	id := spiffe.Identity{TrustDomain: *trustDomain, Namespace: *namespace, ServiceAccount: *serviceAccount}
	certOpts.Host = id.String()

	csrPEM, keyPEM, err := pkiutil.GenCSR(certOpts)
	if err != nil {
		fail(err)
	}
	pubPEM, err := publicKeyPEM(keyPEM)
	if err != nil {
		fail(err)
	}

	if (*certChain == "") != (*certKey == "") {
		fmt.Fprintln(os.Stderr, "istio-client: -cert-chain and -key go together")
		os.Exit(2)
	}
	// With a mesh certificate, Istio's client presents it in the TLS handshake (renewal over mTLS).
	client, err := citadel.NewCitadelClient(opts, &citadel.TLSOptions{RootCert: *rootCert, Cert: *certChain, Key: *certKey})
	if err != nil {
		fail(err)
	}
	defer client.Close()

	chain, err := client.CSRSign(csrPEM, *ttl)
	if err != nil {
		fail(err)
	}
	out, err := json.Marshal(result{Identity: id.String(), CertChain: chain, PublicKeyPem: pubPEM})
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

// publicKeyPEM returns the SPKI PEM of the generated key, so a caller can
// check that the issued leaf certifies it without the private key leaving.
func publicKeyPEM(keyPEM []byte) (string, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return "", errors.New("generated key is not PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return "", err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return "", errors.New("generated key is not a signer")
	}
	der, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// The Citadel client flattens the gRPC status into its error text
// ("create certificate: rpc error: code = X desc = Y"); recover the code.
var codeRE = regexp.MustCompile(`code = (\w+)`)

func fail(err error) {
	f := failure{Error: err.Error()}
	if m := codeRE.FindStringSubmatch(err.Error()); m != nil {
		f.Code = m[1]
	}
	out, _ := json.Marshal(f)
	fmt.Fprintln(os.Stderr, string(out))
	os.Exit(1)
}
