// Command acme-client is the bare ACME client of meshsign's ACME benchmark (`npm run bench -- --case
// acme`): the least an ACME client must do to get the same certificates from the same Pebble, as the
// reference for "is meshsign's engine the bottleneck".
//
// It uses golang.org/x/crypto/acme, the library cert-manager's own ACME client is forked from, the
// way its documentation shows: one account with an RSA-2048 key (RS256, cert-manager's default and
// what meshsign generates for the benchmark's ClusterIssuer), then -count certificates at once, each
// one DNS name (-name-format) and a fresh ECDSA P-256 key: new order, read the authorization, serve
// the HTTP-01 key authorization on -http01-address (the port Pebble's VA calls), accept the
// challenge, WaitOrder until the order is ready (it honours Retry-After), finalize with a CSR and
// download the chain (CreateCertFromOrder), then check that the leaf names the name and holds the key.
//
// Nothing is persisted; a refused nonce is retried by x/crypto/acme itself, at once (retryBackoff);
// there is no scheduling, store, metrics or Secret: what meshsign does beyond this is what it adds. The HTTP
// client is http.DefaultTransport's (HTTP/2 to Pebble, one connection) with Pebble's TLS root
// (-ca-file).
//
// It prints one JSON line as it exits: {"count", "issued", "errors", "wallMs", "cpuMs", "maxRssBytes",
// "requests", "firstError"}, requests by HTTP method (POST = signed), cpuMs and maxRssBytes from getrusage (utime + stime and the peak RSS, the kernel's
// figures /proc shows, which are gone once the benchmark has reaped the process); the exit code is 1
// when any certificate failed.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/acme"
)

// maxBadNonceRetries matches meshsign's ACME client (src/acme/client.ts MAX_BAD_NONCE_RETRIES).
const maxBadNonceRetries = 5

type result struct {
	Count  int     `json:"count"`
	Issued int64   `json:"issued"`
	Errors int64   `json:"errors"`
	WallMs float64 `json:"wallMs"`
	CPUMs  float64 `json:"cpuMs"`
	MaxRSS int64   `json:"maxRssBytes"`
	// Requests is the ACME requests sent, by method (POST = signed with the account key).
	Requests   map[string]int64 `json:"requests"`
	FirstError string           `json:"firstError,omitempty"`
}

func main() {
	start := time.Now()
	directory := flag.String("directory", "", "ACME directory URL (Pebble's /dir)")
	caFile := flag.String("ca-file", "", "PEM file of the roots that verify the ACME server's TLS certificate")
	http01 := flag.String("http01-address", "", "host:port to serve HTTP-01 challenges on (Pebble's httpPort)")
	count := flag.Int("count", 200, "certificates to issue, all at once")
	nameFormat := flag.String("name-format", "c-%d.bench.example.com", "the DNS name of certificate i (fmt, %d = i)")
	email := flag.String("email", "ops@example.com", "the account's contact")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	requestTimeout := flag.Duration("request-timeout", time.Minute, "give up on one ACME request after this long")
	flag.Parse()
	if *directory == "" || *caFile == "" || *http01 == "" || *count < 1 {
		fmt.Fprintln(os.Stderr, "acme-client: -directory, -ca-file and -http01-address are required, -count >= 1")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	res, err := run(ctx, options{
		directory: *directory, caFile: *caFile, http01: *http01, count: *count,
		nameFormat: *nameFormat, email: *email, requestTimeout: *requestTimeout,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "acme-client: %v\n", err)
		os.Exit(1)
	}
	res.WallMs = float64(time.Since(start).Microseconds()) / 1000
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		res.CPUMs = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
		res.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if res.Errors > 0 {
		os.Exit(1)
	}
}

type options struct {
	directory, caFile, http01, nameFormat, email string
	count                                        int
	requestTimeout                               time.Duration
}

func run(ctx context.Context, o options) (*result, error) {
	pem, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", o.caFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots}
	counted := &countingTransport{next: transport}

	var tokens sync.Map // token -> key authorization
	ln, err := net.Listen("tcp", o.http01)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		keyAuth, found := tokens.Load(token)
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(keyAuth.(string)))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	accountKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	client := &acme.Client{
		Key:          accountKey,
		DirectoryURL: o.directory,
		// A bound on every request: x/crypto/acme fetches a nonce holding the lock every other
		// request needs for its own, so one answer that never comes would stall them all.
		HTTPClient:   &http.Client{Transport: counted, Timeout: o.requestTimeout},
		UserAgent:    "meshsign-bench-acme-client",
		RetryBackoff: retryBackoff,
	}
	if _, err := client.Register(ctx, &acme.Account{Contact: []string{"mailto:" + o.email}}, acme.AcceptTOS); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}

	res := &result{Count: o.count}
	var firstErr sync.Once
	var wg sync.WaitGroup
	var issued, failed atomic.Int64
	for i := range o.count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf(o.nameFormat, i)
			if err := issue(ctx, client, &tokens, name); err != nil {
				failed.Add(1)
				firstErr.Do(func() { res.FirstError = fmt.Sprintf("%s: %v", name, err) })
				return
			}
			issued.Add(1)
		}()
	}
	wg.Wait()
	res.Issued, res.Errors = issued.Load(), failed.Load()
	res.Requests = counted.counts()
	return res, nil
}

// issue gets one certificate for name: order, HTTP-01, finalize, chain.
func issue(ctx context.Context, client *acme.Client, tokens *sync.Map, name string) error {
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		return fmt.Errorf("new order: %w", err)
	}
	for _, u := range order.AuthzURLs {
		z, err := client.GetAuthorization(ctx, u)
		if err != nil {
			return fmt.Errorf("authorization: %w", err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		var chal *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == "http-01" {
				chal = c
			}
		}
		if chal == nil {
			return errors.New("no http-01 challenge offered")
		}
		keyAuth, err := client.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return err
		}
		tokens.Store(chal.Token, keyAuth)
		defer tokens.Delete(chal.Token)
		if _, err := client.Accept(ctx, chal); err != nil {
			return fmt.Errorf("accept: %w", err)
		}
	}
	order, err = client.WaitOrder(ctx, order.URI)
	if err != nil {
		return fmt.Errorf("wait for the order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		return err
	}
	chain, _, err := client.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return fmt.Errorf("finalize: %w", err)
	}
	return checkLeaf(chain, name, key.Public())
}

// checkLeaf makes sure what came back is a certificate for name and key, as any client must.
func checkLeaf(chain [][]byte, name string, pub crypto.PublicKey) error {
	if len(chain) == 0 {
		return errors.New("empty chain")
	}
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("leaf: %w", err)
	}
	if err := leaf.VerifyHostname(name); err != nil {
		return err
	}
	if p, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || !p.Equal(pub) {
		return errors.New("the leaf does not hold the CSR's key")
	}
	return nil
}

// retryBackoff is when x/crypto/acme retries a refused request. It retries a badNonce by itself
// (with a new nonce) and asks this only how long to wait first; its default waits 1-2 s, as for a
// 5xx, so Pebble's 5% of refused nonces would leave about one certificate in three idle for a
// second. RFC 8555 §6.5 wants the request sent again with a fresh nonce, and meshsign does so at
// once (up to 5 times): this does the same, so the reference is not slowed by a wait meshsign does
// not have. Only a badNonce reaches here as a 400 (x/crypto/acme returns other 4xx at once); any
// other refusal (429, 5xx) is not retried and counts as an error: the benchmark expects none.
func retryBackoff(n int, _ *http.Request, res *http.Response) time.Duration {
	if res != nil && res.StatusCode == http.StatusBadRequest && n <= maxBadNonceRetries {
		return time.Nanosecond
	}
	return 0
}

// countingTransport counts the requests sent to the ACME server, by method.
type countingTransport struct {
	next                 http.RoundTripper
	post, get, head, any atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch r.Method {
	case http.MethodPost:
		t.post.Add(1)
	case http.MethodGet:
		t.get.Add(1)
	case http.MethodHead:
		t.head.Add(1)
	default:
		t.any.Add(1)
	}
	return t.next.RoundTrip(r)
}

func (t *countingTransport) counts() map[string]int64 {
	return map[string]int64{"POST": t.post.Load(), "GET": t.get.Load(), "HEAD": t.head.Load(), "other": t.any.Load()}
}
