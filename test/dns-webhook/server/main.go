// A cert-manager DNS-01 webhook solver for meshsign's tests, built on cert-manager's own webhook
// framework (pkg/acme/webhook/cmd, the one alidns-webhook and the other community webhooks use), so
// meshsign's webhook provider is proven against the real extension API server and ChallengePayload
// codec, both called directly and through kube-apiserver's aggregation layer.
//
// The solver writes the TXT record into an authoritative DNS server by RFC 2136 dynamic update,
// signed with TSIG. Where to write comes from the solver's `config` JSON:
//
//	{"nameserver": "127.0.0.1:5353", "tsigKeyName": "meshsign.", "tsigAlgorithm": "hmac-sha256.",
//	 "tsigSecretFile": "/path/to/base64-secret"}
//
// The TSIG secret is read from a file named in the config, never carried in the config itself (the
// config travels through Issuers and the API server). Like the webhooks it stands in for, it writes
// exactly ch.Key (the TXT value) at ch.ResolvedFQDN in ch.ResolvedZone, and CleanUp removes only
// that value, so a wildcard and its apex can share one name.
//
// Usage: dns-webhook --group-name=<group> [the extension API server's flags: --secure-port,
// --tls-cert-file, --kubeconfig, --authentication-kubeconfig, ...]
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
	restclient "k8s.io/client-go/rest"

	whapi "github.com/cert-manager/cert-manager/pkg/acme/webhook/apis/acme/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/acme/webhook/cmd"
)

// solverName is the resource the solver serves: POST /apis/<group>/v1alpha1/rfc2136-test.
const solverName = "rfc2136-test"

// ttl of the TXT records written, as cert-manager's own RFC 2136 provider does.
const ttl = 60

type config struct {
	Nameserver     string `json:"nameserver"`
	TSIGKeyName    string `json:"tsigKeyName"`
	TSIGAlgorithm  string `json:"tsigAlgorithm"`
	TSIGSecretFile string `json:"tsigSecretFile"`
}

type solver struct{}

func (solver) Name() string { return solverName }

func (solver) Initialize(_ *restclient.Config, _ <-chan struct{}) error { return nil }

func (s solver) Present(ch *whapi.ChallengeRequest) error { return s.update(ch, true) }

func (s solver) CleanUp(ch *whapi.ChallengeRequest) error { return s.update(ch, false) }

func (solver) update(ch *whapi.ChallengeRequest, add bool) error {
	cfg, err := loadConfig(ch)
	if err != nil {
		return err
	}
	if ch.ResolvedFQDN == "" || ch.ResolvedZone == "" || ch.Key == "" {
		return errors.New("resolvedFQDN, resolvedZone and key are required")
	}
	rr := &dns.TXT{
		Hdr: dns.RR_Header{Name: dns.Fqdn(ch.ResolvedFQDN), Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
		Txt: []string{ch.Key},
	}
	msg := new(dns.Msg)
	msg.SetUpdate(dns.Fqdn(ch.ResolvedZone))
	if add {
		msg.Insert([]dns.RR{rr})
	} else {
		msg.Remove([]dns.RR{rr})
	}
	client := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
	if cfg.TSIGKeyName != "" {
		secret, err := os.ReadFile(cfg.TSIGSecretFile)
		if err != nil {
			return fmt.Errorf("reading the TSIG secret: %w", err)
		}
		alg := dns.Fqdn(strings.ToLower(cfg.TSIGAlgorithm))
		if cfg.TSIGAlgorithm == "" {
			alg = dns.HmacSHA256
		}
		name := dns.Fqdn(cfg.TSIGKeyName)
		client.TsigSecret = map[string]string{name: strings.TrimSpace(string(secret))}
		msg.SetTsig(name, alg, 300, time.Now().Unix())
	}
	reply, _, err := client.Exchange(msg, cfg.Nameserver)
	if err != nil {
		return fmt.Errorf("DNS update of %s at %s failed: %w", ch.ResolvedFQDN, cfg.Nameserver, err)
	}
	if reply.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("DNS update of %s refused by %s: %s", ch.ResolvedFQDN, cfg.Nameserver, dns.RcodeToString[reply.Rcode])
	}
	return nil
}

func loadConfig(ch *whapi.ChallengeRequest) (config, error) {
	var cfg config
	if ch.Config == nil {
		return cfg, errors.New("solver config is required (nameserver)")
	}
	if err := json.Unmarshal(ch.Config.Raw, &cfg); err != nil {
		return cfg, fmt.Errorf("decoding solver config: %w", err)
	}
	if cfg.Nameserver == "" {
		return cfg, errors.New("solver config: nameserver is required")
	}
	if cfg.TSIGKeyName != "" && cfg.TSIGSecretFile == "" {
		return cfg, errors.New("solver config: tsigSecretFile is required with tsigKeyName")
	}
	return cfg, nil
}

func main() {
	// The group is a flag, not a constant, so one binary serves any groupName a test registers.
	group := ""
	args := []string{os.Args[0]}
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "--group-name="); ok {
			group = v
			continue
		}
		args = append(args, a)
	}
	if group == "" {
		fmt.Fprintln(os.Stderr, "dns-webhook: --group-name=<group> is required")
		os.Exit(2)
	}
	os.Args = args
	cmd.RunWebhookServer(group, solver{})
}
