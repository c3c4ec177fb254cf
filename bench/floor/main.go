// The benchmark's floor and load generator (standard library only; bench/proxy.bench.ts builds and runs it).
//
//	bench-floor proxy -listen 127.0.0.1:0 -cert C -key K -token-file T -upstream URL -ca CA \
//	    -upstream-token-file T2 -user agent-ci -groups airlock:agents,system:authenticated
//
// The floor: the least an authenticating impersonating proxy must do. TLS in, a static bearer token
// checked (constant time), incoming Authorization and Impersonate-* dropped, forwarded with
// net/http/httputil.ReverseProxy over a keep-alive TLS transport (HTTP/2 unless -http2=false) with the
// proxy's own token plus Impersonate-User / Impersonate-Group. No policy, no masking, no recording.
// Prints "LISTEN host:port" once it accepts connections.
//
//	bench-floor load -url URL -token T -ca CA [-mode open -rate 500 -seconds 10 | -mode closed -concurrency 32 -seconds 10 | -count N]
//	    [-method POST -body JSON]
//
// The load generator: HTTP/1.1 keep-alive client. Open loop issues requests on a fixed schedule whatever
// the completions (latency measured from the scheduled time, so queueing counts); closed loop runs
// -concurrency workers back to back. Prints one JSON line: counts, failures by reason, latency percentiles.
package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench-floor proxy|load [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "proxy":
		proxyMain(os.Args[2:])
	case "load":
		loadMain(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: bench-floor proxy|load [flags]")
		os.Exit(2)
	}
}

func caPool(file string) *x509.CertPool {
	pem, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("%s: no certificates", file)
	}
	return pool
}

func readToken(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// ---------------------------------------------------------------------------------------------- proxy

func proxyMain(args []string) {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "listen address")
	cert := fs.String("cert", "", "serving certificate (PEM)")
	key := fs.String("key", "", "serving key (PEM)")
	tokenFile := fs.String("token-file", "", "file with the bearer tokens accepted from agents, one per line")
	upstream := fs.String("upstream", "", "kube-apiserver URL")
	ca := fs.String("ca", "", "kube-apiserver CA (PEM)")
	upTokenFile := fs.String("upstream-token-file", "", "file with the proxy's own bearer token for kube-apiserver")
	user := fs.String("user", "", "Impersonate-User")
	groups := fs.String("groups", "", "Impersonate-Group values, comma separated")
	h2 := fs.Bool("http2", true, "HTTP/2 to kube-apiserver")
	_ = fs.Parse(args)
	if *cert == "" || *key == "" || *tokenFile == "" || *upstream == "" || *ca == "" || *upTokenFile == "" || *user == "" {
		log.Fatal("proxy: -cert, -key, -token-file, -upstream, -ca, -upstream-token-file and -user are required")
	}
	var accepted [][]byte
	for _, t := range strings.Split(readToken(*tokenFile), "\n") {
		if t = strings.TrimSpace(t); t != "" {
			accepted = append(accepted, []byte("Bearer "+t))
		}
	}
	upAuth := "Bearer " + readToken(*upTokenFile)
	target, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	var groupList []string
	for _, g := range strings.Split(*groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			groupList = append(groupList, g)
		}
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: caPool(*ca)},
		ForceAttemptHTTP2:   *h2,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			r.Out.Header.Set("Authorization", upAuth)
			r.Out.Header.Set("Impersonate-User", *user)
			for _, g := range groupList {
				r.Out.Header.Add("Impersonate-Group", g)
			}
		},
		Transport: transport,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptedToken(accepted, []byte(r.Header.Get("Authorization"))) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`)
			return
		}
		for k := range r.Header {
			lk := strings.ToLower(k)
			if lk == "authorization" || strings.HasPrefix(lk, "impersonate-") || strings.HasPrefix(lk, "x-remote-") {
				r.Header.Del(k)
			}
		}
		rp.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	fmt.Printf("LISTEN %s\n", ln.Addr().String())
	if err := srv.ServeTLS(ln, *cert, *key); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// ---------------------------------------------------------------------------------------------- load

type result struct {
	Mode     string         `json:"mode"`
	N        int            `json:"n"`
	OK       int            `json:"ok"`
	Fail     int            `json:"fail"`
	Seconds  float64        `json:"seconds"`
	RPS      float64        `json:"rps"`
	OKRPS    float64        `json:"okRps"`
	Bytes    int64          `json:"bytes"`
	P50      float64        `json:"p50"`
	P90      float64        `json:"p90"`
	P99      float64        `json:"p99"`
	Max      float64        `json:"max"`
	Errors   map[string]int `json:"errors"`
	Lateness float64        `json:"lateMs"` // open loop: worst delay between a request's schedule and its send
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)))
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func loadMain(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	target := fs.String("url", "", "request URL")
	token := fs.String("token", "", "bearer token, or several separated by commas (requests take them in turn)")
	ca := fs.String("ca", "", "CA (PEM) of the server")
	method := fs.String("method", "GET", "HTTP method")
	body := fs.String("body", "", "request body")
	contentType := fs.String("content-type", "application/json", "Content-Type of the body")
	mode := fs.String("mode", "closed", "open or closed")
	rate := fs.Float64("rate", 500, "open loop: requests per second")
	seconds := fs.Float64("seconds", 10, "duration")
	concurrency := fs.Int("concurrency", 32, "closed loop: workers")
	count := fs.Int("count", 0, "closed loop: stop after this many requests (0: run for -seconds)")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	_ = fs.Parse(args)
	if *target == "" || *ca == "" {
		log.Fatal("load: -url and -ca are required")
	}
	var tokens []string
	for _, t := range strings.Split(*token, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	var next atomic.Int64
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			TLSClientConfig:     &tls.Config{RootCAs: caPool(*ca)},
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	var (
		mu     sync.Mutex
		lats   []float64
		errs   = map[string]int{}
		okN    int
		nbytes int64
	)
	one := func(scheduled time.Time) {
		var rd io.Reader
		if *body != "" {
			rd = bytes.NewReader([]byte(*body))
		}
		req, err := http.NewRequestWithContext(context.Background(), *method, *target, rd)
		if err != nil {
			log.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		if *body != "" {
			req.Header.Set("Content-Type", *contentType)
		}
		if len(tokens) > 0 {
			req.Header.Set("Authorization", "Bearer "+tokens[int(next.Add(1))%len(tokens)])
		}
		reason := ""
		var n int64
		resp, err := client.Do(req)
		if err != nil {
			reason = "error: " + shortErr(err)
		} else {
			n, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				reason = "body: " + shortErr(err)
			} else if resp.StatusCode < 200 || resp.StatusCode > 299 {
				reason = fmt.Sprintf("HTTP %d", resp.StatusCode)
			}
		}
		ms := float64(time.Since(scheduled).Nanoseconds()) / 1e6
		mu.Lock()
		lats = append(lats, ms)
		nbytes += n
		if reason == "" {
			okN++
		} else {
			errs[reason]++
		}
		mu.Unlock()
	}
	start := time.Now()
	var late float64
	if *mode == "open" {
		interval := time.Duration(float64(time.Second) / *rate)
		total := int(*rate * *seconds)
		var wg sync.WaitGroup
		for i := 0; i < total; i++ {
			due := start.Add(time.Duration(i) * interval)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			} else if l := float64(-d.Nanoseconds()) / 1e6; l > late {
				late = l
			}
			wg.Add(1)
			go func() { defer wg.Done(); one(due) }()
		}
		wg.Wait()
	} else {
		deadline := start.Add(time.Duration(*seconds * float64(time.Second)))
		var issued atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < *concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if *count > 0 {
						if issued.Add(1) > int64(*count) {
							return
						}
					} else if time.Now().After(deadline) {
						return
					}
					one(time.Now())
				}
			}()
		}
		wg.Wait()
	}
	elapsed := time.Since(start).Seconds()
	sort.Float64s(lats)
	r := result{
		Mode: *mode, N: len(lats), OK: okN, Fail: len(lats) - okN, Seconds: elapsed,
		RPS: float64(len(lats)) / elapsed, OKRPS: float64(okN) / elapsed, Bytes: nbytes,
		P50: pct(lats, 50), P90: pct(lats, 90), P99: pct(lats, 99), Errors: errs, Lateness: late,
	}
	if len(lats) > 0 {
		r.Max = lats[len(lats)-1]
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

// acceptedToken compares in constant time against every accepted token (no early exit on a match).
func acceptedToken(accepted [][]byte, got []byte) bool {
	ok := 0
	for _, a := range accepted {
		ok |= subtle.ConstantTimeCompare(got, a)
	}
	return ok == 1
}

func shortErr(err error) string {
	s := err.Error()
	// Drop the URL from *url.Error so identical failures group together.
	if ue, ok := err.(*url.Error); ok {
		s = ue.Err.Error()
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
