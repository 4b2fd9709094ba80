// An agency's integration with SI-KADER, in Go: consumes sikader.certification.v1 (CloudEvents
// binary headers), validates each body against its published JSON Schema, processes each event
// once by ce_id (a file of processed ids that survives a restart; offsets committed after
// processing), receives webhooks verified with Standard Webhooks, and calls one API route with a
// key. Configuration by environment variables: see README.md. `--self-test` checks the Standard
// Webhooks test vector and exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

const certified = "sikader.certification.CadreCertified.v1"

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	if fallback == "" {
		log.Fatalf("set %s (see README.md)", name)
	}
	return fallback
}

// report prints one JSON line per outcome on stdout: what the CI test reads.
func report(fields map[string]any) {
	fields["example"] = "go"
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

// processedIDs: one "<channel> <ce_id>" line each, appended and fsynced before the offset is
// committed (or the webhook answered), so a restart skips what was done.
type processedIDs struct {
	mu   sync.Mutex
	path string
	seen map[string]bool
}

func openProcessedIDs(path string) *processedIDs {
	s := &processedIDs{path: path, seen: map[string]bool{}}
	if data, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			s.seen[line] = true
		}
	}
	return s
}

func (s *processedIDs) firstTime(channel, ceID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.seen[channel+" "+ceID]
}

func (s *processedIDs) done(channel, ceID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(s.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(channel + " " + ceID + "\n"); err != nil {
		return err
	}
	s.seen[channel+" "+ceID] = true
	return f.Sync()
}

// schemas: the published JSON Schemas, one file per ce_type, from SIKADER_SCHEMA_DIR.
type schemas struct {
	mu    sync.Mutex
	dir   string
	cache map[string]*jsonschema.Schema
}

func (s *schemas) validate(ceType string, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sch, ok := s.cache[ceType]
	if !ok {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		var err error
		if sch, err = c.Compile(filepath.Join(s.dir, ceType+".json")); err != nil {
			return fmt.Errorf("no published schema for %q: %w", ceType, err)
		}
		s.cache[ceType] = sch
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	return sch.Validate(doc)
}

// certificatesOf is the one API call: the holder's certificates at certification, with a key.
func certificatesOf(cadreID string) ([]map[string]any, error) {
	u := strings.TrimRight(env("SIKADER_API_URL", ""), "/") + "/certificates?cadre_id=" + url.QueryEscape(cadreID)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+env("SIKADER_API_KEY", ""))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /certificates: %s", resp.Status)
	}
	var certs []map[string]any
	return certs, json.NewDecoder(resp.Body).Decode(&certs)
}

// process is what the agency does with an event: here, look the certificate up and report it.
func process(channel, ceID, ceType string, body []byte) error {
	var data map[string]any
	if err := json.Unmarshal(body, &data); err != nil {
		return err
	}
	out := map[string]any{"event": "processed", "via": channel, "ce_id": ceID, "ce_type": ceType, "cadre_id": data["cadre_id"]}
	if ceType == certified {
		certs, err := certificatesOf(data["cadre_id"].(string))
		if err != nil {
			return err
		}
		out["certificate_number"], out["level"] = data["certificate_number"], data["level"]
		for _, c := range certs {
			if c["certificate_id"] == data["certificate_id"] {
				out["api_status"], out["api_level"] = c["status"], c["level"]
			}
		}
	}
	report(out)
	return nil
}

func handleRecord(store *processedIDs, sch *schemas, r *kgo.Record) error {
	h := map[string]string{}
	for _, header := range r.Headers {
		h[header.Key] = string(header.Value)
	}
	ceID, ceType := h["ce_id"], h["ce_type"]
	if !store.firstTime("kafka", ceID) {
		report(map[string]any{"event": "duplicate", "via": "kafka", "ce_id": ceID, "ce_type": ceType})
		return nil
	}
	if err := sch.validate(ceType, r.Value); err != nil {
		// a real integration would park it (a dead-letter table); here: reported, skipped
		report(map[string]any{"event": "invalid", "via": "kafka", "ce_id": ceID, "ce_type": ceType, "errors": err.Error()})
	} else if err := process("kafka", ceID, ceType, r.Value); err != nil {
		return err
	}
	return store.done("kafka", ceID)
}

func consume(ctx context.Context, store *processedIDs, sch *schemas) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(env("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"), ",")...),
		kgo.ConsumerGroup(env("KAFKA_GROUP_ID", "opd.dinkes.go-example")),
		kgo.ConsumeTopics(env("KAFKA_TOPIC", "sikader.certification.v1")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	}
	security, err := securityOpts()
	if err != nil {
		return err
	}
	client, err := kgo.NewClient(append(opts, security...)...)
	if err != nil {
		return err
	}
	defer client.Close()
	report(map[string]any{"event": "ready", "webhook_port": env("WEBHOOK_PORT", "8090")})
	for {
		fetches := client.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			log.Printf("fetch errors: %v", errs)
		}
		for _, r := range fetches.Records() {
			if err := handleRecord(store, sch, r); err != nil {
				return err // not committed: the record comes again after a restart
			}
			if err := client.CommitRecords(ctx, r); err != nil {
				return err
			}
		}
	}
}

func webhookHandler(store *processedIDs, sch *schemas) http.HandlerFunc {
	wh, err := standardwebhooks.NewWebhook(env("WEBHOOK_SECRET", ""))
	if err != nil {
		log.Fatalf("WEBHOOK_SECRET: %v", err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "POST a webhook", http.StatusBadRequest)
			return
		}
		if err := wh.Verify(body, r.Header); err != nil {
			report(map[string]any{"event": "rejected", "via": "webhook", "reason": err.Error()})
			http.Error(w, "signature does not verify", http.StatusUnauthorized)
			return
		}
		ceID, ceType := r.Header.Get("webhook-id"), r.Header.Get("ce-type")
		if !store.firstTime("webhook", ceID) {
			report(map[string]any{"event": "duplicate", "via": "webhook", "ce_id": ceID, "ce_type": ceType})
			return
		}
		if err := sch.validate(ceType, body); err != nil {
			report(map[string]any{"event": "invalid", "via": "webhook", "ce_id": ceID, "ce_type": ceType, "errors": err.Error()})
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := process("webhook", ceID, ceType, body); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable) // the sender retries
			return
		}
		if err := store.done("webhook", ceID); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
}

func main() {
	log.SetOutput(os.Stderr)
	if len(os.Args) > 1 && os.Args[1] == "--self-test" {
		if err := selfTest(); err != nil {
			log.Fatal(err)
		}
		report(map[string]any{"event": "self-test", "ok": true})
		return
	}
	store := openProcessedIDs(env("STATE_FILE", "processed-ids.txt"))
	sch := &schemas{dir: env("SIKADER_SCHEMA_DIR", "schemas"), cache: map[string]*jsonschema.Schema{}}
	server := &http.Server{Addr: ":" + env("WEBHOOK_PORT", "8090"), Handler: webhookHandler(store, sch)}
	go func() {
		if err := server.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := consume(ctx, store, sch)
	_ = server.Shutdown(context.Background())
	if err != nil {
		log.Fatal(err)
	}
}
