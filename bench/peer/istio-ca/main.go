// Command istio-ca serves Istio's own CA the way istiod serves it, for meshsign's side-by-side
// benchmark (`npm run bench -- --case peer`): Istio's CreateCertificate server
// (security/pkg/server/ca) in front of Istio's CA (security/pkg/pki/ca) with a self-signed
// ECDSA P-256 root made with the options istiod uses for its self-signed root, Istio's JWT
// authenticator (security/pkg/server/ca/authenticate, go-oidc against a JWKS URL) after its
// client-certificate authenticator as istiod orders them, and a gRPC server with istiod's
// server options and TLS settings on its secure port (TLS >= 1.2, client certificates verified
// if given, a serving certificate issued by the CA itself).
//
// Once listening it prints one JSON line to stdout:
//
//	{"addr": "127.0.0.1:PORT", "rootCertFile": "<dir>/root-cert.pem"}
//
// and serves until SIGTERM/SIGINT or until its stdin closes (so it does not outlive the
// benchmark). The CA key never leaves the process.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/api/security/v1beta1"
	istiogrpc "istio.io/istio/pilot/pkg/grpc"
	"istio.io/istio/pkg/config/mesh"
	istiokeepalive "istio.io/istio/pkg/keepalive"
	"istio.io/istio/pkg/security"
	"istio.io/istio/security/pkg/pki/ca"
	"istio.io/istio/security/pkg/pki/util"
	caserver "istio.io/istio/security/pkg/server/ca"
	"istio.io/istio/security/pkg/server/ca/authenticate"
)

// fixedMesh is a mesh.Watcher whose configuration never changes (istiod watches a ConfigMap).
type fixedMesh struct{ m *meshconfig.MeshConfig }

func (f fixedMesh) Mesh() *meshconfig.MeshConfig { return f.m }

func (f fixedMesh) AddMeshHandler(func()) *mesh.WatcherHandlerRegistration {
	return mesh.NewWatcherHandlerRegistration(func() {})
}

func (f fixedMesh) DeleteMeshHandler(*mesh.WatcherHandlerRegistration) {}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	jwksURI := flag.String("jwks-uri", "", "JWKS URL the JWT authenticator fetches the token keys from (required)")
	issuer := flag.String("issuer", "https://kubernetes.default.svc.cluster.local", "token issuer (iss)")
	audience := flag.String("audience", "istio-ca", "token audience (aud)")
	trustDomain := flag.String("trust-domain", "cluster.local", "trust domain of the SPIFFE IDs")
	dir := flag.String("dir", "", "directory to write root-cert.pem into (required)")
	defaultTTL := flag.Duration("default-ttl", 24*time.Hour, "workload certificate TTL when the request asks none (istiod: DEFAULT_WORKLOAD_CERT_TTL)")
	maxTTL := flag.Duration("max-ttl", 90*24*time.Hour, "largest workload certificate TTL (istiod: MAX_WORKLOAD_CERT_TTL)")
	flag.Parse()
	if *jwksURI == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "istio-ca: -jwks-uri and -dir are required")
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*addr, *jwksURI, *issuer, *audience, *trustDomain, *dir, *defaultTTL, *maxTTL); err != nil {
		fmt.Fprintf(os.Stderr, "istio-ca: %v\n", err)
		os.Exit(1)
	}
}

func run(addr, jwksURI, issuer, audience, trustDomain, dir string, defaultTTL, maxTTL time.Duration) error {
	// The self-signed root as istiod makes it (security/pkg/pki/ca NewSelfSignedIstioCAOptions:
	// SelfSignedCACertTTL 10 years, Org = trust domain, dual-use), with an ECDSA P-256 key.
	rootPEM, keyPEM, err := util.GenCertKeyFromOptions(util.CertOptions{
		TTL:          10 * 365 * 24 * time.Hour,
		Org:          trustDomain,
		IsCA:         true,
		IsSelfSigned: true,
		IsDualUse:    true,
		ECSigAlg:     util.EcdsaSigAlg,
		ECCCurve:     util.P256Curve,
	})
	if err != nil {
		return fmt.Errorf("generating the root: %w", err)
	}
	bundle, err := util.NewVerifiedKeyCertBundleFromPem(rootPEM, keyPEM, nil, rootPEM, nil)
	if err != nil {
		return fmt.Errorf("CA bundle: %w", err)
	}
	// The zero CAType is Istio's self-signed CA; no rotator (the root outlives the run).
	istioCA, err := ca.NewIstioCA(&ca.IstioCAOptions{
		DefaultCertTTL: defaultTTL,
		MaxCertTTL:     maxTTL,
		KeyCertBundle:  bundle,
	})
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}

	m := mesh.DefaultMeshConfig()
	m.TrustDomain = trustDomain
	jwtAuthn, err := authenticate.NewJwtAuthenticator(&v1beta1.JWTRule{
		Issuer:    issuer,
		JwksUri:   jwksURI,
		Audiences: []string{audience},
	}, fixedMesh{m})
	if err != nil {
		return fmt.Errorf("JWT authenticator: %w", err)
	}
	authenticators := []security.Authenticator{&authenticate.ClientCertAuthenticator{}, jwtAuthn}
	server, err := caserver.New(istioCA, maxTTL, authenticators, nil)
	if err != nil {
		return fmt.Errorf("CA server: %w", err)
	}

	// istiod's serving certificate comes from its own CA (GenKeyCert: the CA's key type).
	servingChain, servingKey, err := istioCA.GenKeyCert([]string{"istiod.istio-system.svc", "localhost"}, 24*time.Hour, false)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	servingCert, err := tls.X509KeyPair(servingChain, servingKey)
	if err != nil {
		return fmt.Errorf("serving certificate: %w", err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(rootPEM)
	tlsConfig := &tls.Config{
		Certificates: []tls.Certificate{servingCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    clientCAs,
		MinVersion:   tls.VersionTLS12,
	}
	opts := istiogrpc.ServerOptions(istiokeepalive.DefaultOption(), func(int64) {})
	opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	grpcServer := grpc.NewServer(opts...)
	server.Register(grpcServer)

	rootFile := filepath.Join(dir, "root-cert.pem")
	if err := os.WriteFile(rootFile, rootPEM, 0o644); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- grpcServer.Serve(lis) }()
	if err := json.NewEncoder(os.Stdout).Encode(map[string]string{
		"addr": lis.Addr().String(), "rootCertFile": rootFile,
	}); err != nil {
		return err
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-stop:
	case <-stdinClosed:
	case err := <-served:
		return err
	}
	grpcServer.Stop()
	return nil
}
