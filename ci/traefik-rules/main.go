// Command traefik-rules tells which Traefik v3 HTTP router would take each of a list of requests, using Traefik's
// own rule parser and muxer (github.com/traefik/traefik/v3/pkg/muxer/http), so that tests can check the `match`
// rules of rendered IngressRoutes against real Traefik semantics.
//
// Input (stdin):
//
//	{"rules": [{"name": "r1", "rule": "Host(`a.example`) && !PathPrefix(`/metrics`)", "priority": 0, "syntax": ""}],
//	 "requests": [{"host": "a.example", "path": "/metrics", "method": "GET", "headers": {"X-A": "b"}}],
//	 "sanitizePath": true}
//
// Output (stdout):
//
//	{"rules": [{"name": "r1", "priority": 44}],
//	 "results": [{"host": "a.example", "path": "/metrics", "method": "GET", "route": null, "matches": []}]}
//
// route is the router Traefik's muxer picks (null: none, Traefik answers 404); matches lists every rule that matches
// the request on its own; ambiguous is set when another matching rule has the picked one's priority (Traefik's order
// between them is then unspecified). A priority of 0 means Traefik's default, the rule's length. The syntax defaults
// to Traefik's default rule syntax (v3). Each request goes through what a Traefik HTTP entry point does before the
// router in its default configuration that matters to matching: the request line and Host header are parsed by
// net/http, the path is sanitized ("..", "." and duplicate slashes removed; entry point option
// http.sanitizePath, default true, set "sanitizePath": false to skip it) and the canonical host is set by Traefik's
// request decorator (lower case, port removed). The percent-encoding normalisation of the entry point is not done.
//
// -version prints the Traefik module version; -self-check also routes a few built-in requests (a smoke check).
//
// Exit codes: 0 done; 1 unreadable input or an unparsable request; 2 an invalid rule (the parser's error on stderr).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime/debug"
	"strings"

	"github.com/traefik/traefik/v3/pkg/middlewares/requestdecorator"
	httpmuxer "github.com/traefik/traefik/v3/pkg/muxer/http"
)

const traefikModule = "github.com/traefik/traefik/v3"

// maxUserPriority is the highest priority Traefik accepts for a user-defined router.
const maxUserPriority = math.MaxInt - 1000

type ruleIn struct {
	Name     string `json:"name"`
	Rule     string `json:"rule"`
	Priority int    `json:"priority"`
	Syntax   string `json:"syntax"`
}

type requestIn struct {
	Host    string            `json:"host"`
	Path    string            `json:"path"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
}

type input struct {
	Rules        []ruleIn    `json:"rules"`
	Requests     []requestIn `json:"requests"`
	SanitizePath *bool       `json:"sanitizePath"`
}

type ruleOut struct {
	Name     string `json:"name"`
	Priority int    `json:"priority"`
}

type resultOut struct {
	Host      string   `json:"host"`
	Path      string   `json:"path"`
	Method    string   `json:"method"`
	Route     *string  `json:"route"`
	Matches   []string `json:"matches"`
	Ambiguous bool     `json:"ambiguous,omitempty"`
	Status    int      `json:"status,omitempty"` // set when Traefik refuses the request before routing it (400)
}

type output struct {
	Rules   []ruleOut   `json:"rules"`
	Results []resultOut `json:"results"`
}

// picker is the handler every route gets: it records which route served the request.
type picker struct {
	name   string
	picked *string
}

func (p picker) ServeHTTP(rw http.ResponseWriter, _ *http.Request) {
	*p.picked = p.name
	rw.WriteHeader(http.StatusNoContent)
}

// statusWriter is a ResponseWriter that keeps only the status code.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header         { return w.header }
func (w *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

type invalidRuleError struct{ err error }

func (e invalidRuleError) Error() string { return e.err.Error() }

// router is a Traefik muxer behind Traefik's request decorator, with the route its last request was given to.
type router struct {
	handler http.Handler
	picked  string
}

func newRouter(parser httpmuxer.SyntaxParser, rules []ruleIn, priorities []int) (*router, error) {
	r := &router{}
	muxer := httpmuxer.NewMuxer(parser, nil)
	muxer.SetDefaultHandler(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		r.picked = ""
		rw.WriteHeader(http.StatusNotFound)
	}))
	for i, rule := range rules {
		syntax := rule.Syntax
		if syntax == "" {
			syntax = "v3"
		}
		if err := muxer.AddRoute(rule.Rule, syntax, priorities[i], "", picker{rule.Name, &r.picked}); err != nil {
			return nil, invalidRuleError{fmt.Errorf("rule %q: %w", rule.Name, err)}
		}
	}
	decorator := requestdecorator.New(nil) // no CNAME flattening: Traefik's default
	r.handler = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		decorator.ServeHTTP(rw, req, muxer.ServeHTTP)
	})
	return r, nil
}

// route serves req and returns the route that took it ("" for none) and the status code.
func (r *router) route(req *http.Request) (string, int) {
	r.picked = ""
	w := &statusWriter{header: http.Header{}}
	r.handler.ServeHTTP(w, req)
	return r.picked, w.status
}

// buildRequest parses the request as an HTTP/1.1 server would, then sanitizes its path like an entry point.
func buildRequest(in requestIn, sanitize bool) (*http.Request, error) {
	method := in.Method
	if method == "" {
		method = http.MethodGet
	}
	path := in.Path
	if path == "" {
		path = "/"
	}
	var raw strings.Builder
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, in.Host)
	for k, v := range in.Headers {
		fmt.Fprintf(&raw, "%s: %s\r\n", k, v)
	}
	raw.WriteString("\r\n")
	for _, field := range append([]string{method, path, in.Host}, headerFields(in.Headers)...) {
		if strings.ContainsAny(field, "\r\n") {
			return nil, fmt.Errorf("request %s %s (host %q): line breaks are not allowed", method, path, in.Host)
		}
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))
	if err != nil {
		return nil, fmt.Errorf("request %s %s (host %q): %w", method, path, in.Host, err)
	}
	req.RemoteAddr = "127.0.0.1:40000"
	if sanitize {
		req.URL = req.URL.JoinPath()
		req.RequestURI = req.URL.RequestURI()
	}
	return req, nil
}

func headerFields(h map[string]string) []string {
	fields := make([]string, 0, 2*len(h))
	for k, v := range h {
		fields = append(fields, k, v)
	}
	return fields
}

func run(stdin io.Reader, stdout io.Writer) error {
	var in input
	dec := json.NewDecoder(stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("reading the input JSON: %w", err)
	}
	sanitize := in.SanitizePath == nil || *in.SanitizePath

	parser, err := httpmuxer.NewSyntaxParser()
	if err != nil {
		return fmt.Errorf("creating Traefik's rule parser: %w", err)
	}

	out := output{Rules: []ruleOut{}, Results: []resultOut{}}
	priorities := make([]int, len(in.Rules))
	seen := map[string]bool{}
	for i, rule := range in.Rules {
		if rule.Name == "" || seen[rule.Name] {
			return invalidRuleError{fmt.Errorf("rule %d: missing or duplicate name %q", i, rule.Name)}
		}
		seen[rule.Name] = true
		priorities[i] = rule.Priority
		if priorities[i] == 0 {
			priorities[i] = httpmuxer.GetRulePriority(rule.Rule)
		}
		if priorities[i] > maxUserPriority {
			return invalidRuleError{fmt.Errorf("rule %q: the router priority %d exceeds the max user-defined priority %d",
				rule.Name, priorities[i], maxUserPriority)}
		}
		out.Rules = append(out.Rules, ruleOut{rule.Name, priorities[i]})
	}

	all, err := newRouter(parser, in.Rules, priorities)
	if err != nil {
		return err
	}
	single := make([]*router, len(in.Rules))
	for i := range in.Rules {
		if single[i], err = newRouter(parser, in.Rules[i:i+1], priorities[i:i+1]); err != nil {
			return err
		}
	}

	for _, reqIn := range in.Requests {
		req, err := buildRequest(reqIn, sanitize)
		if err != nil {
			return err
		}
		res := resultOut{Host: reqIn.Host, Path: reqIn.Path, Method: req.Method, Matches: []string{}}
		picked, status := all.route(req)
		if picked != "" {
			res.Route = &picked
		} else if status != http.StatusNotFound {
			res.Status = status
		}
		pickedPriority := -1
		for i, rule := range in.Rules {
			if rule.Name == picked {
				pickedPriority = priorities[i]
			}
		}
		for i := range in.Rules {
			if name, _ := single[i].route(req); name != "" {
				res.Matches = append(res.Matches, name)
				if name != picked && priorities[i] == pickedPriority {
					res.Ambiguous = true
				}
			}
		}
		out.Results = append(out.Results, res)
	}

	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func traefikVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == traefikModule {
				return dep.Version
			}
		}
	}
	return "unknown"
}

// selfCheck routes a few requests through a known rule and compares the routes picked with the expected ones.
func selfCheck() error {
	const in = `{"rules": [{"name": "public", "rule": "Host('a.example') && !PathPrefix('/metrics')"}],
		"requests": [{"host": "a.example", "path": "/"}, {"host": "A.example:443", "path": "/x"},
			{"host": "a.example", "path": "/metrics"}, {"host": "a.example", "path": "/a/../metrics/x"},
			{"host": "b.example", "path": "/"}]}`
	want := []string{"public", "public", "", "", ""}
	var buf strings.Builder
	if err := run(strings.NewReader(strings.ReplaceAll(in, "'", "`")), &buf); err != nil {
		return err
	}
	var out output
	if err := json.Unmarshal([]byte(buf.String()), &out); err != nil {
		return err
	}
	for i, res := range out.Results {
		got := ""
		if res.Route != nil {
			got = *res.Route
		}
		if got != want[i] {
			return fmt.Errorf("self-check: %s%s routed to %q, want %q", res.Host, res.Path, got, want[i])
		}
	}
	return nil
}

func main() {
	version := flag.Bool("version", false, "print the Traefik module version this checker is built from")
	check := flag.Bool("self-check", false, "route a few built-in requests and exit 1 unless Traefik's muxer picks as expected")
	flag.Parse()
	if *version || *check {
		if *check {
			if err := selfCheck(); err != nil {
				fmt.Fprintln(os.Stderr, "traefik-rules:", err)
				os.Exit(1)
			}
		}
		fmt.Printf("traefik-rules (%s %s)", traefikModule, traefikVersion())
		if *check {
			fmt.Print(": self-check passed")
		}
		fmt.Println()
		return
	}
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "traefik-rules:", err)
		var invalid invalidRuleError
		if errors.As(err, &invalid) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
