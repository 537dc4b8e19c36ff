// spiffe-client is meshsign's proof that a real SPIFFE client accepts its
// trust bundle: it fetches the bundle from meshsign's bundle endpoint with
// go-spiffe's federation client (https_web or https_spiffe profile), parses
// it with spiffebundle, and verifies an X.509-SVID meshsign issued with
// x509svid.Verify against that bundle. It prints one JSON object describing
// what it saw and exits non-zero (with the go-spiffe error) on any failure.
//
// Usage:
//
//	spiffe-client -trust-domain TD (-url URL -profile https_web|https_spiffe | -bundle-file FILE)
//	              [-web-roots PEM] [-endpoint-id ID -bootstrap-roots PEM] [-svid PEM]
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/federation"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

type result struct {
	TrustDomain     string   `json:"trustDomain"`
	X509Authorities []string `json:"x509AuthoritySubjects"`
	SequenceNumber  *uint64  `json:"sequenceNumber"`
	RefreshHintSecs *int64   `json:"refreshHintSeconds"`
	SVIDID          string   `json:"svidId,omitempty"`
	SVIDChains      int      `json:"svidChains,omitempty"`
}

func main() {
	td := flag.String("trust-domain", "", "trust domain of the bundle")
	url := flag.String("url", "", "bundle endpoint URL")
	profile := flag.String("profile", "https_web", "https_web or https_spiffe")
	webRoots := flag.String("web-roots", "", "PEM roots that authenticate the endpoint (https_web)")
	endpointID := flag.String("endpoint-id", "", "SPIFFE ID the endpoint must present (https_spiffe)")
	bootstrap := flag.String("bootstrap-roots", "", "PEM roots of the endpoint's trust domain (https_spiffe bootstrap)")
	bundleFile := flag.String("bundle-file", "", "parse this SPIFFE bundle file instead of fetching")
	svid := flag.String("svid", "", "PEM certificate chain (leaf first) to verify with x509svid.Verify")
	flag.Parse()
	if err := run(*td, *url, *profile, *webRoots, *endpointID, *bootstrap, *bundleFile, *svid); err != nil {
		fmt.Fprintln(os.Stderr, "spiffe-client:", err)
		os.Exit(1)
	}
}

func run(tdName, url, profile, webRoots, endpointID, bootstrap, bundleFile, svid string) error {
	td, err := spiffeid.TrustDomainFromString(tdName)
	if err != nil {
		return err
	}
	var bundle *spiffebundle.Bundle
	if bundleFile != "" {
		if bundle, err = spiffebundle.Load(td, bundleFile); err != nil {
			return err
		}
	} else {
		var opt federation.FetchOption
		switch profile {
		case "https_web":
			pool := x509.NewCertPool()
			certs, err := readCerts(webRoots)
			if err != nil {
				return err
			}
			for _, c := range certs {
				pool.AddCert(c)
			}
			opt = federation.WithWebPKIRoots(pool)
		case "https_spiffe":
			id, err := spiffeid.FromString(endpointID)
			if err != nil {
				return err
			}
			certs, err := readCerts(bootstrap)
			if err != nil {
				return err
			}
			opt = federation.WithSPIFFEAuth(spiffebundle.FromX509Authorities(id.TrustDomain(), certs), id)
		default:
			return fmt.Errorf("unknown profile %q", profile)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if bundle, err = federation.FetchBundle(ctx, td, url, opt); err != nil {
			return err
		}
	}
	out := result{TrustDomain: bundle.TrustDomain().String()}
	for _, a := range bundle.X509Authorities() {
		out.X509Authorities = append(out.X509Authorities, a.Subject.String())
	}
	if seq, ok := bundle.SequenceNumber(); ok {
		out.SequenceNumber = &seq
	}
	if hint, ok := bundle.RefreshHint(); ok {
		secs := int64(hint / time.Second)
		out.RefreshHintSecs = &secs
	}
	if svid != "" {
		chain, err := readCerts(svid)
		if err != nil {
			return err
		}
		id, chains, err := x509svid.Verify(chain, bundle)
		if err != nil {
			return err
		}
		out.SVIDID = id.String()
		out.SVIDChains = len(chains)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New(path + ": no certificates")
	}
	return certs, nil
}
