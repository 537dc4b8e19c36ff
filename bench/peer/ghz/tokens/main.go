// Command ghz-tokens is ghz's load generator (github.com/bojand/ghz/runner, the library the ghz
// command is built on, at the version bench/peer/ghz/go.mod pins) with one bearer token per
// request: request n carries token n of --tokens-file and element n of --data-file, and the run
// ends after one request per token, so no token is sent twice. The ghz command cannot do this:
// its metadata is one object for every call, and its templates cannot pick one of N tokens.
//
// It takes the subset of ghz's flags meshsign's benchmarks pass, and writes ghz's JSON report.
//
//	ghz-tokens --proto P --import-paths I --call C --cacert F --cname N --concurrency 64 \
//	  --connections 8 --timeout 20s --data-file D --tokens-file T --output R host:port
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bojand/ghz/printer"
	"github.com/bojand/ghz/runner"
	"google.golang.org/grpc/metadata"
)

func main() {
	proto := flag.String("proto", "", "the .proto file of the call")
	importPaths := flag.String("import-paths", "", "where the .proto file's imports are found")
	call := flag.String("call", "", "package.Service/Method")
	cacert := flag.String("cacert", "", "PEM roots the server's certificate is checked against")
	cname := flag.String("cname", "", "the server name TLS checks")
	concurrency := flag.Uint("concurrency", 64, "calls in flight")
	connections := flag.Uint("connections", 8, "TLS connections the calls share")
	timeout := flag.Duration("timeout", 20*time.Second, "deadline of each call")
	dataFile := flag.String("data-file", "", "JSON array of request messages; request n sends element n modulo its length")
	tokensFile := flag.String("tokens-file", "", "JSON array of bearer tokens; request n sends token n, once")
	output := flag.String("output", "", "where ghz's JSON report goes")
	flag.Parse()
	if flag.NArg() != 1 || *proto == "" || *call == "" || *dataFile == "" || *tokensFile == "" || *output == "" {
		fmt.Fprintln(os.Stderr, "usage: ghz-tokens --proto P --call C --data-file D --tokens-file T --output R [flags] host:port")
		os.Exit(2)
	}

	raw, err := os.ReadFile(*tokensFile)
	if err != nil {
		fail("reading the tokens: %v", err)
	}
	var tokens []string
	if err := json.Unmarshal(raw, &tokens); err != nil {
		fail("the tokens file is not a JSON array of strings: %v", err)
	}
	if len(tokens) == 0 {
		fail("the tokens file holds no token")
	}

	options := []runner.Option{
		runner.WithProtoFile(*proto, []string{*importPaths}),
		runner.WithRootCertificate(*cacert),
		runner.WithServerNameOverride(*cname),
		runner.WithConcurrency(*concurrency),
		runner.WithConnections(*connections),
		runner.WithTimeout(*timeout),
		runner.WithDataFromFile(*dataFile),
		// One request per token: the run ends when they are used up.
		runner.WithTotalRequests(uint(len(tokens))),
		runner.WithMetadataProvider(func(cd *runner.CallData) (*metadata.MD, error) {
			n := cd.RequestNumber
			if n < 0 || n >= int64(len(tokens)) {
				return nil, fmt.Errorf("request %d has no token of its own (%d tokens)", n, len(tokens))
			}
			md := metadata.Pairs("authorization", "Bearer "+tokens[n])
			return &md, nil
		}),
	}
	report, err := runner.Run(*call, flag.Arg(0), options...)
	if err != nil {
		fail("the run failed: %v", err)
	}
	out, err := os.Create(*output)
	if err != nil {
		fail("creating the report: %v", err)
	}
	defer out.Close()
	if err := (&printer.ReportPrinter{Out: out, Report: report}).Print("json"); err != nil {
		fail("writing the report: %v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ghz-tokens: "+format+"\n", args...)
	os.Exit(1)
}
